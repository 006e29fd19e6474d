// libFuzzer harness for MixFill's readers. Not part of the Swift package: Scripts/fuzz
// compiles it together with Sources/MixFill (one module, so internal API is reachable)
// using `swiftc -sanitize=fuzzer,address` and runs one target at a time, chosen by the
// MIXFILL_FUZZ_TARGET environment variable:
//
//     dense       DenseMatrixReader.parse            the rating-matrix text reader
//     model       ModelFile.decode                   model files (JSON)
//     jobs        JobFile.parse (and JSONDocument)   batch job files
//     checkpoint  Checkpoint.decode                  checkpoints; the input is a checkpoint
//                                                    without its seal, which the harness
//                                                    appends, so mutations reach the parser
//                                                    instead of stopping at the checksum
//     triplets    RecordReader, triplets layout      `user item rating [timestamp]` records
//     csv         RecordReader, CSV layout           `user,item,rating[,timestamp]` records
//                                                    (or `;`-separated, by the first line)
//     netflix     RecordReader, Netflix layout       `movieId:` blocks of `user,rating[,date]`
//     dat         RecordReader, MovieLens .dat       `user::item::rating[::timestamp]` records
//                                                    (each record target parses the bytes in
//                                                    one buffer and again from a file through
//                                                    LineBlocks in small blocks: same table or
//                                                    same error; odd-length inputs declare the
//                                                    rating scale 0.5-5)
//     auto        RatingFormat.detect + the reader   `--format auto`: detection on the bytes
//                 it picks (RatingInput.load)        and on the file agree, then the chosen
//                                                    reader reads the file; bytes opening
//                                                    with a compressed format's magic are
//                                                    refused as such, detected or given
//     binary      BinaryRatingFile.read              binary rating files; the harness
//                                                    recomputes every section checksum and
//                                                    the header checksum it can before
//                                                    reading, so mutations reach the checks
//                                                    of the contents
//     pairs       PairsReader.parse                  `--pairs` files
//     ratings     UserRatingsReader.parse            `--ratings-file` files
//     scale       RatingScale.parse                  `--rating-scale` / `rating_scale` text
//     ranges      IntegerRanges (seeds, K lists)     `-k 1,12`, `--seeds 0-4`, job-file strings
//     ratinglist  UserRatingsReader.parseList        `--ratings 12:5,40:3.5`
//     titles      ItemTitles.parse                   `recommend --items` movies.csv (RFC 4180
//                                                    quoting) and movies.dat; accepted titles
//                                                    are written as quoted CSV and read back
//
// The file-based targets write each input to a scratch folder in /dev/shm (tmpfs, so
// the atomic writers' fsyncs cost nothing), or in /tmp where there is no /dev/shm.
//
// Any input must either parse into a value that keeps the reader's invariants and
// round-trips, or be refused with a one-line MixFillError that names a place. A trap,
// a sanitizer report or a broken property is a crash, saved by libFuzzer as an artifact.

#if canImport(Glibc)
import Glibc
#endif

enum FuzzTarget: String, CaseIterable {
    case dense, model, jobs, checkpoint, triplets, csv, netflix, dat, auto, binary, pairs, ratings, scale, ranges, ratinglist, titles
}

let fuzzTarget: FuzzTarget = {
    guard let name = getenv("MIXFILL_FUZZ_TARGET").map({ String(cString: $0) }), let target = FuzzTarget(rawValue: name) else {
        fatalError("set MIXFILL_FUZZ_TARGET to one of \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    return target
}()

func require(_ condition: Bool, _ what: @autoclosure () -> String) {
    if !condition { fatalError("property broken: \(what())") }
}

/// A refusal must be one line, name a place, and carry the bad-input exit code. Only
/// option parsers (`isOption`) may name an option instead of a file.
func checkRefusal(_ error: MixFillError, isOption: Bool = false) {
    require(!error.description.utf8.contains { $0 < 0x20 || $0 == 0x7F }, "control character in the message: \(error.description)")
    require(error.exitCode == 2, "exit code \(error.exitCode) for bad input: \(error.description)")
    switch error {
    case let .badInput(file, line, column, message):
        require(line >= 1 && column >= 1 && !file.isEmpty && !message.isEmpty, "bad place in \(error.description)")
    case let .badFile(file, message):
        require(!file.isEmpty && !message.isEmpty, "empty message")
    case let .badOption(option, message) where isOption:
        require(!option.isEmpty && !message.isEmpty, "empty option or message in \(error.description)")
    default:
        require(false, "unexpected kind of error: \(error)")
    }
}

func fuzzDense(_ bytes: [UInt8]) {
    do {
        let matrix = try DenseMatrixReader.parse(bytes, name: "fuzz.txt")
        require(matrix.userCount >= 1 && matrix.itemCount >= 1, "empty matrix accepted")
        require(matrix.values.count == matrix.userCount * matrix.itemCount, "shape")
        require(matrix.values.allSatisfy { $0.isFinite && $0 >= 0 && $0 <= RatingRules.largestMagnitude }, "value out of range")
        let again = try DenseMatrixReader.parse(DenseMatrixWriter.encode(matrix), name: "again.txt")
        require(again == matrix, "write → read changed the matrix")
    } catch {
        checkRefusal(error)
    }
}

func fuzzModel(_ bytes: [UInt8]) {
    do {
        let model = try ModelFile.decode(bytes, name: "fuzz.json")
        if let mixture = model.mixture {
            require(mixture.means.count == mixture.componentCount * mixture.itemCount, "shape")
            require(mixture.variances.allSatisfy { $0 > 0 && $0.isFinite }, "variance")
        } else {
            // A model file holds a course mixture or a factor model, nothing else.
            guard let factor = model.factorMixture else { return require(false, "a model of neither family") }
            require(factor.loadings.count == factor.itemCount * factor.factorCount, "loadings' shape")
            require(factor.noiseVariance > 0 && factor.noiseVariance.isFinite, "σ²")
        }
        let again = try ModelFile.decode(model.encoded(), name: "again.json")
        require(again == model, "encode → decode changed the model")
    } catch {
        if case .runtime = error { return }  // encoding failures are not reader bugs
        checkRefusal(error)
    }
}

func fuzzJobs(_ bytes: [UInt8]) {
    do {
        let file = try JobFile.parse(bytes, name: "fuzz.json", baseFolder: "/base")
        require(!file.jobs.isEmpty, "no jobs accepted")
        require(Set(file.jobs.map(\.name)).count == file.jobs.count, "duplicate names accepted")
        for job in file.jobs {
            require(JobFields.isValidName(job.name), "bad name accepted: \(job.name)")
            require(!(job.componentCounts ?? [1]).isEmpty && (job.componentCounts ?? [1]).allSatisfy { $0 >= 1 }, "bad K accepted")
            require(!job.seeds.isEmpty && job.maxIterations >= 1, "bad seeds or cap accepted")
            // Bytes, not Characters: "/" and a leading combining mark form one Character.
            require(Array(job.dataPath.utf8).suffix(job.data.utf8.count).elementsEqual(job.data.utf8),
                    "data path not resolved from the job's")
        }
    } catch {
        checkRefusal(error)
    }
}

func fuzzCheckpoint(_ body: [UInt8]) {
    let bytes = body + Checkpoint.seal(body[...])
    do {
        let checkpoint = try Checkpoint.decode(bytes, name: "fuzz.ckpt")
        let state = checkpoint.state
        require(state.model.componentCount == checkpoint.identity.componentCount, "K")
        require(state.iterations <= checkpoint.identity.maxIterations, "iterations beyond the cap")
        require(state.trace.allSatisfy { $0.isFinite }, "non-finite LL accepted")
        let again = try Checkpoint.decode(checkpoint.encoded(), name: "again.ckpt")
        require(again == checkpoint, "encode → decode changed the checkpoint")
    } catch {
        checkRefusal(error)
    }
}

// MARK: Scratch files

/// A folder of this process's own for the file-based targets, removed at exit.
let scratchFolder: String = {
    let base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"
    let folder = "\(base)/mixfill-fuzz-\(getpid())"
    mkdir(folder, 0o700)
    atexit {
        let folder = "\(access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp")/mixfill-fuzz-\(getpid())"
        for name in ["input", "output"] { unlink("\(folder)/\(name)") }
        rmdir(folder)
    }
    return folder
}()
let scratchInput = scratchFolder + "/input"
let scratchOutput = scratchFolder + "/output"

/// Writes `bytes` to `path` plainly (the reader under test gets exactly these bytes).
func writeScratch(_ bytes: [UInt8], to path: String) {
    let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    require(descriptor >= 0, "cannot create \(path)")
    var done = 0
    while done < bytes.count {
        let count = bytes.withUnsafeBytes { raw in
            write(descriptor, raw.baseAddress.map { $0 + done }, bytes.count - done)
        }
        require(count > 0, "cannot write \(path)")
        done += count
    }
    close(descriptor)
}

// MARK: Rating tables

/// What every reader of records guarantees of the table it returns: valid CSR rows
/// (starts from 0 to the number of ratings, nondecreasing; items strictly increasing and
/// in range within each row), id maps matching the matrix and strictly increasing,
/// ratings finite and within `rules`. Text readers also never make an empty row or an
/// item nobody rated (every id comes from a record): `fromRecords`.
func checkTable(_ table: RatingTable, rules: RatingRules, fromRecords: Bool) {
    let matrix = table.matrix
    require(matrix.userCount >= 1 && matrix.itemCount >= 1, "empty table accepted")
    require(table.users.count == matrix.userCount && table.items.count == matrix.itemCount, "id maps do not match the matrix")
    require(IdMap.isStrictlyIncreasing(table.users.ids) && IdMap.isStrictlyIncreasing(table.items.ids), "ids not ascending")
    require(table.users.names.map(IdMap.areStrictlyIncreasing) ?? true && table.items.names.map(IdMap.areStrictlyIncreasing) ?? true,
            "names not ascending")
    require(matrix.rowStarts.count == matrix.userCount + 1 && matrix.rowStarts[0] == 0, "row starts")
    require(matrix.rowStarts[matrix.userCount] == matrix.items.count && matrix.items.count == matrix.ratings.count, "rating count")
    require(ItemIndices.isNarrow(itemCount: matrix.itemCount) == (matrix.items.byteWidth == 2), "item index width")
    require(table.duplicatePairs >= 0, "negative duplicate count")
    var rated = [Bool](repeating: false, count: matrix.itemCount)
    for user in 0..<matrix.userCount {
        let start = matrix.rowStarts[user]
        let end = matrix.rowStarts[user + 1]
        require(start <= end, "row starts decrease at user \(user)")
        require(!fromRecords || start < end, "a user without ratings from records")
        for position in start..<end {
            let item = matrix.items[position]
            require(item >= 0 && item < matrix.itemCount, "item index \(item) out of range")
            require(position == start || matrix.items[position - 1] < item, "row \(user) not strictly increasing")
            rated[item] = true
            let rating = matrix.ratings[position]
            require(rating.isFinite && RatingRules.isWithinMagnitude(rating), "rating \(rating) accepted")
            require(rules.violation(rating, token: "") == nil, "rating \(rating) outside the declared scale accepted")
        }
    }
    require(!fromRecords || !rated.contains(false), "an item nobody rated from records")
    if case let .coded(palette, codes) = matrix.ratings {
        require(!palette.isEmpty && palette.count <= 256 && codes.allSatisfy { Int($0) < palette.count }, "palette")
    }
}

/// Two tables hold the same ratings for the same ids (the duplicate count aside). Ratings
/// are compared as values, not as stored: a palette keeps the values of records a later
/// duplicate replaced, and text writes −0 as 0.
func sameRatings(_ a: RatingTable, _ b: RatingTable) -> Bool {
    let (x, y) = (a.matrix, b.matrix)
    return a.users == b.users && a.items == b.items && x.userCount == y.userCount && x.itemCount == y.itemCount
        && x.rowStarts == y.rowStarts && x.items.count == y.items.count
        && (0..<x.items.count).allSatisfy { x.items[$0] == y.items[$0] && x.ratings[$0] == y.ratings[$0] }
}

// MARK: Record readers

func fuzzRecords(_ bytes: [UInt8], layout: RecordLayout) {
    let rules = bytes.count % 2 == 0 ? RatingRules.standard : RatingRules(scale: RatingScale(minimum: 0.5, maximum: 5))
    let name = "fuzz.txt"
    var whole: Result<RatingTable, MixFillError>
    do { whole = .success(try RecordReader.parse(bytes, name: name, layout: layout, rules: rules)) } catch { whole = .failure(error) }

    // The streaming path: the same bytes from a file, in blocks of 2…62 bytes (the buffer
    // grows for longer lines), as RecordReader.read does with 8 MB blocks.
    writeScratch(bytes, to: scratchInput)
    var blocks: Result<RatingTable, MixFillError>
    do {
        blocks = .success(try RecordReader.read(path: scratchInput, layout: layout, rules: rules, blockSize: 2 + bytes.count % 61))
    } catch {
        // The file is named by its path where the bytes had `name`.
        if case let .badInput(_, line, column, message) = error {
            blocks = .failure(.badInput(file: name, line: line, column: column, message: message))
        } else if case let .badFile(_, message) = error {
            blocks = .failure(.badFile(file: name, message: message))
        } else {
            blocks = .failure(error)
        }
    }

    switch (whole, blocks) {
    case let (.success(table), .success(streamed)):
        require(table == streamed, "one buffer and blocks give different tables")
        checkTable(table, rules: rules, fromRecords: true)
        // Write → read: RecordWriter writes triplets and CSV (not the Netflix layout); names
        // from a layout with blanks inside fields go to CSV, which can hold them.
        let written: RecordLayout = layout == .triplets || layout == .netflix ? .triplets : .csv
        do {
            try RecordWriter.write(table, to: scratchOutput, layout: written)
            let again = try RecordReader.read(path: scratchOutput, layout: written, rules: rules)
            require(sameRatings(again, table) && again.duplicatePairs == 0, "write → read changed the table")
        } catch {
            require(false, "the written table does not read back: \(error)")
        }
    case let (.failure(error), .failure(streamed)):
        require(error == streamed, "one buffer and blocks refuse differently: \(error) / \(streamed)")
        checkRefusal(error)
    case let (.success, .failure(error)):
        require(false, "accepted in one buffer, refused in blocks: \(error)")
    case let (.failure(error), .success):
        require(false, "refused in one buffer, accepted in blocks: \(error)")
    }
}

// MARK: Format detection

func fuzzAuto(_ bytes: [UInt8]) {
    let format = RatingFormat.detect(prefix: bytes, isWholeFile: true)
    require(format != .auto, "detected 'auto'")
    require((format == .binary) == BinaryRatingFile.hasMagic(bytes), "binary iff the magic")
    let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
    if format != .binary, !bytes.starts(with: bom) {
        require(RatingFormat.detect(prefix: bom + bytes, isWholeFile: true) == format,
                "a byte-order mark changed the detected format")
    }
    writeScratch(bytes, to: scratchInput)
    // A compressed file or an archive (its magic number first) is refused as one, by
    // detection and by the reader under the format detection would have picked.
    if let compressed = RatingFormat.compressedInputError(prefix: bytes, path: scratchInput) {
        require(compressed.exitCode == 2, "exit code of \(compressed)")
        for given in [RatingFormat.auto, format] {
            do {
                _ = try RatingInput.load(path: scratchInput, format: given)
                require(false, "compressed bytes read as \(given)")
            } catch {
                require(error == compressed, "compressed bytes refused as \(given) with \(error), not \(compressed)")
            }
        }
        return
    }
    do {
        require(try RatingFormat.detect(path: scratchInput) == format, "detection from the file and from the bytes differ")
        let input = try RatingInput.load(path: scratchInput, format: .auto)
        require(input.format == format, "read as \(input.format), detected as \(format)")
        switch input.storage {
        case let .dense(matrix):
            require(matrix.userCount >= 1 && matrix.itemCount >= 1 && matrix.values.count == matrix.userCount * matrix.itemCount, "dense shape")
            require(matrix.values.allSatisfy { $0.isFinite && $0 >= 0 && RatingRules.isWithinMagnitude($0) }, "dense value out of range")
        case let .records(table):
            checkTable(table, rules: .standard, fromRecords: format != .binary)
        }
    } catch {
        checkRefusal(error)
    }
}

// MARK: Binary rating files

/// `bytes` with every section checksum whose section lies inside the file, and then the
/// header checksum, recomputed: what the writer would have stored for these contents
/// (6 sections in version 1, 8 in version 2, the version as the header says).
func resealedBinary(_ body: [UInt8]) -> [UInt8] {
    var bytes = body
    guard bytes.count >= 12 else { return bytes }
    let sections = BinaryRatingFile.sectionCount(version: bytes.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self)) })
    let headerSum = 56 + 24 * sections
    guard bytes.count >= headerSum + 8 else { return bytes }
    func field(_ offset: Int) -> UInt64 {
        bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
    }
    func store(_ value: UInt64, at offset: Int) {
        withUnsafeBytes(of: value.littleEndian) { raw in
            for index in 0..<8 { bytes[offset + index] = raw[index] }
        }
    }
    for section in 0..<sections {
        let base = 56 + 24 * section
        let offset = field(base)
        let count = field(base + 8)
        guard offset <= UInt64(bytes.count), count <= UInt64(bytes.count) - offset else { continue }
        let range = Int(offset)..<Int(offset + count)
        store(bytes.withUnsafeBytes { Checksum.xxh64(UnsafeRawBufferPointer(rebasing: $0[range])) }, at: base + 16)
    }
    store(Checksum.xxh64(Array(bytes[0..<headerSum])), at: headerSum)
    return bytes
}

func fuzzBinary(_ body: [UInt8]) {
    writeScratch(resealedBinary(body), to: scratchInput)
    let table: RatingTable
    do {
        table = try BinaryRatingFile.read(path: scratchInput)
    } catch {
        checkRefusal(error)
        return
    }
    checkTable(table, rules: .standard, fromRecords: false)
    do {
        try BinaryRatingFile.write(table, to: scratchOutput)
        let again = try BinaryRatingFile.read(path: scratchOutput)
        require(again == table, "write → read changed the table")
    } catch {
        require(false, "the written table does not read back: \(error)")
    }
}

// MARK: Field lists

/// The fields of `bytes`' non-blank lines as `FieldLines` should split them, done the
/// slow way with Strings: lines at `\n`, a `#` ends the line's content, fields are runs
/// of bytes other than space, tab, comma, semicolon and CR, a field in double quotes its
/// content; beside them, whether the line opens with a comma, a semicolon or a tab.
func referenceFieldLines(_ bytes: [UInt8]) -> [(fields: [String], opensWithSeparator: Bool)] {
    // A UTF-8 byte-order mark in front is not content (FieldLines skips it).
    let text = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? bytes.dropFirst(3) : bytes[...]
    return text.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).compactMap { line in
        let content = line.prefix { $0 != UInt8(ascii: "#") }
        let fields = content.split(whereSeparator: FieldLines.isSeparator).map { field in
            let quoted = field.count >= 2 && field.first == UInt8(ascii: "\"") && field.last == UInt8(ascii: "\"")
            return String(decoding: quoted ? field.dropFirst().dropLast() : field, as: UTF8.self)
        }
        return fields.isEmpty ? nil : (fields, line.first == UInt8(ascii: ",") || line.first == UInt8(ascii: ";") || line.first == UInt8(ascii: "\t"))
    }
}

/// One header line, as pair and rating lists allow: a first line whose first non-empty
/// field holds no digit, dropped; returns where `roles` stand in the lines after it and
/// the header's field count when it sets one: where its names put the roles when each
/// is named once (`RecordColumns.role(of:)`), else after an unnamed first column (an
/// empty first field, or a comma or tab first) ahead of as many names as roles, else in
/// order from the first field.
func dropHeader(_ lines: inout [(fields: [String], opensWithSeparator: Bool)],
                roles: [RecordColumns.Role]) -> (places: [Int], fieldCount: Int?) {
    let inOrder = (places: Array(0..<roles.count), fieldCount: Int?.none)
    guard let header = lines.first, let name = header.fields.first(where: { !$0.isEmpty }),
          !name.utf8.contains(where: { $0 &- 48 < 10 }) else { return inOrder }
    lines.removeFirst()
    let names = (header.opensWithSeparator ? [""] : []) + header.fields
    let found = names.map { name in Array(name.utf8).withUnsafeBufferPointer { RecordColumns.role(of: $0) } }
    if roles.allSatisfy({ role in found.count(where: { $0 == role }) == 1 }) {
        return (roles.compactMap { role in found.firstIndex(of: role) }, names.count)
    }
    if names[0].isEmpty, names.count(where: { !$0.isEmpty }) >= roles.count {
        return (Array(1...roles.count), names.count)
    }
    return inOrder
}

func fuzzPairs(_ bytes: [UInt8]) {
    do {
        let pairs = try PairsReader.parse(bytes, name: "pairs.txt")
        var lines = referenceFieldLines(bytes)
        let (places, _) = dropHeader(&lines, roles: [.user, .item])
        require(pairs.count == lines.count, "\(pairs.count) pairs from \(lines.count) lines")
        for (pair, (fields, _)) in zip(pairs, lines) {
            require(fields.count > places.max() ?? 0 && Int64(fields[places[0]]).map(String.init) == pair.user
                    && Int64(fields[places[1]]).map(String.init) == pair.item,
                    "pair \(pair) read from \(fields) at \(places)")
        }
        let text = pairs.map { "\($0.user) \($0.item)\n" }.joined()
        let again = try PairsReader.parse(Array(text.utf8), name: "again.txt")
        require(again.elementsEqual(pairs, by: { $0 == $1 }), "write → read changed the pairs")
    } catch {
        checkRefusal(error)
    }
}

func fuzzUserRatings(_ bytes: [UInt8]) {
    do {
        let ratings = try UserRatingsReader.parse(bytes, name: "ratings.txt")
        var lines = referenceFieldLines(bytes)
        let (places, fieldCount) = dropHeader(&lines, roles: [.item, .rating])
        let needed = (places.max() ?? 0) + 1
        require(ratings.count == lines.count, "\(ratings.count) ratings from \(lines.count) lines")
        for (rating, (fields, _)) in zip(ratings, lines) {
            require(fields.count >= needed && fields.count <= max(fieldCount ?? 2, needed), "\(fields.count) fields accepted at \(places)")
            require(Int64(fields[places[0]]).map(String.init) == rating.item, "item of \(rating) read from \(fields) at \(places)")
            require(rating.rating.isFinite && RatingRules.isWithinMagnitude(rating.rating), "rating \(rating.rating) accepted")
            if let value = Double(fields[places[1]]) { require(value == rating.rating, "rating \(rating.rating) read from '\(fields[places[1]])'") }
        }
        let text = ratings.map { "\($0.item),\(DenseMatrixWriter.format($0.rating))\n" }.joined()
        let again = try UserRatingsReader.parse(Array(text.utf8), name: "again.txt")
        require(again.elementsEqual(ratings, by: { $0 == $1 }), "write → read changed the ratings")
    } catch {
        checkRefusal(error)
    }
}

// MARK: Rating scale

func fuzzScale(_ bytes: [UInt8]) {
    let text = String(decoding: bytes, as: UTF8.self)
    do {
        let scale = try RatingScale.parse(text, option: "--rating-scale")
        require(scale.minimum < scale.maximum, "scale \(scale) accepted")
        require(scale.minimum.isFinite && scale.maximum.isFinite
                && RatingRules.isWithinMagnitude(scale.minimum) && RatingRules.isWithinMagnitude(scale.maximum), "scale \(scale) accepted")
        let again = try RatingScale.parse(scale.text, option: "--rating-scale")
        require(again == scale, "'\(scale.text)' reads back as \(again)")
    } catch {
        checkRefusal(error, isOption: true)
    }
}

// MARK: Option lists

func fuzzRanges(_ bytes: [UInt8]) {
    let text = String(decoding: bytes, as: UTF8.self)
    do {
        let values = try IntegerRanges.parse(text, option: "-k", what: "component count", example: "1,12 or 1-16")
        require(!values.isEmpty && values.count <= IntegerRanges.maximumCount, "\(values.count) values accepted")
        require(values.allSatisfy { $0 >= 0 }, "a negative value accepted from '\(text)'")
        let again = try IntegerRanges.parse(values.map(String.init).joined(separator: ","), option: "-k",
                                            what: "component count", example: "1,12 or 1-16")
        require(again == values, "the list written out reads back differently")
        do {
            let counts = try IntegerRanges.componentCounts(text)
            // Each K once, ascending (a K listed twice is one fit).
            require(counts == Array(Set(values)).sorted() && counts.allSatisfy { $0 >= 1 }, "component counts \(counts.prefix(5)) from \(values.prefix(5))")
        } catch {
            require(values.contains(0), "componentCounts refused \(values.prefix(5)) without a 0")
            checkRefusal(error, isOption: true)
        }
        do {
            let seeds = try IntegerRanges.seeds(text)
            // Each seed once, in the order listed.
            require(seeds.map(Int.init) == IntegerRanges.distinct(values), "seeds differ from the list")
        } catch {
            require(values.contains { $0 > Int(UInt32.max) }, "seeds refused \(values.prefix(5)) with none out of range")
            checkRefusal(error, isOption: true)
        }
    } catch {
        checkRefusal(error, isOption: true)
    }
}

func fuzzRatingList(_ bytes: [UInt8]) {
    let text = String(decoding: bytes, as: UTF8.self)
    do {
        let ratings = try UserRatingsReader.parseList(text)
        require(ratings.count == text.split(separator: ",", omittingEmptySubsequences: false).count, "one rating per pair")
        for rating in ratings {
            require(rating.rating.isFinite && RatingRules.isWithinMagnitude(rating.rating), "rating \(rating.rating) accepted")
        }
        let written = ratings.map { "\($0.item):\(DenseMatrixWriter.format($0.rating))" }.joined(separator: ",")
        let again = try UserRatingsReader.parseList(written)
        require(again.elementsEqual(ratings, by: { $0 == $1 }), "'\(written)' reads back differently")
    } catch {
        checkRefusal(error, isOption: true)
    }
}

/// Titles parse into one per id, or are refused with a place; accepted ones, written back
/// as a movies.csv with every title quoted (`""` for a quote), read back the same.
func fuzzTitles(_ bytes: [UInt8]) {
    do {
        let titles = try ItemTitles.parse(bytes, name: "movies.csv")
        require(titles.count <= bytes.count, "\(titles.count) titles from \(bytes.count) bytes")
        // Quotes doubled byte by byte (a quote followed by a combining mark is one
        // Character, but still a quote byte to the parser).
        var text = Array("movieId,title,genres\n".utf8)
        for (id, title) in titles.titles.sorted(by: { $0.key < $1.key }) {
            // A text id may hold a comma or a quote, blanks at its ends or a '#' first (a
            // comment line, unquoted): quoted as a title is.
            let field = id.contains(",") || id.contains("\"") || id.first?.isWhitespace == true || id.last?.isWhitespace == true || id.first == "#" ? "\"" + id.split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\"\"") + "\"" : id
            text += Array("\(field),\"".utf8)
            for byte in title.utf8 {
                text.append(byte)
                if byte == UInt8(ascii: "\"") { text.append(byte) }
            }
            text += Array("\",Drama\n".utf8)
        }
        let again = try ItemTitles.parse(text, name: "again.csv")
        require(again == titles, "write → read changed the titles")
    } catch {
        checkRefusal(error)
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    switch fuzzTarget {
    case .dense: fuzzDense(bytes)
    case .model: fuzzModel(bytes)
    case .jobs: fuzzJobs(bytes)
    case .checkpoint: fuzzCheckpoint(bytes)
    case .triplets: fuzzRecords(bytes, layout: .triplets)
    case .csv: fuzzRecords(bytes, layout: .csv)
    case .netflix: fuzzRecords(bytes, layout: .netflix)
    case .dat: fuzzRecords(bytes, layout: .movielensDat)
    case .auto: fuzzAuto(bytes)
    case .binary: fuzzBinary(bytes)
    case .pairs: fuzzPairs(bytes)
    case .ratings: fuzzUserRatings(bytes)
    case .scale: fuzzScale(bytes)
    case .ranges: fuzzRanges(bytes)
    case .ratinglist: fuzzRatingList(bytes)
    case .titles: fuzzTitles(bytes)
    }
    return 0
}
