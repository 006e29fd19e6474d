#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The file formats every command reads (`--format`).
public enum RatingFormat: String, Sendable, CaseIterable {
    /// Decide from the file's first bytes (see `detect(prefix:)`).
    case auto
    /// The course's matrix: one user per line, one item per column, 0 = missing.
    case dense
    /// `user item rating [timestamp]` records separated by spaces or tabs.
    case triplets
    /// `user,item,rating[,timestamp]` records, header optional.
    case csv
    /// The Netflix Prize layout: `movieId:` lines, each followed by `userId,rating,date` lines.
    case netflix
    /// MovieLens 1M's and 10M's `ratings.dat`: `user::item::rating::timestamp`.
    case movielensDat = "movielens-dat"
    /// MixFill's binary rating file (`mixfill convert`).
    case binary

    /// How many bytes of a file detection looks at.
    static let sniffedBytes = 1 << 16

    /// The record layout this format reads with, if it is one.
    package var recordLayout: RecordLayout? {
        switch self {
        case .triplets: return .triplets
        case .csv: return .csv
        case .netflix: return .netflix
        case .movielensDat: return .movielensDat
        case .auto, .dense, .binary: return nil
        }
    }

    /// The format of the file at `path`, from its first 64 KB. For `-` or a pipe, those of
    /// the stream, which are kept for the reader that follows (see `StreamInput`). A
    /// compressed file or an archive is refused (`compressedInputError`).
    public static func detect(path: String) throws(MixFillError) -> RatingFormat {
        if StreamInput.isStream(path) {
            let (prefix, isWhole) = try StreamInput.prefix(path, sniffedBytes)
            if let error = compressedInputError(prefix: prefix, path: path) { throw error }
            return detect(prefix: prefix, isWholeFile: isWhole)
        }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw .badFile(file: path, message: FileBytes.openFailure(errno))
        }
        defer { close(descriptor) }
        var status = stat()
        if fstat(descriptor, &status) == 0, (status.st_mode & S_IFMT) == S_IFDIR {
            throw .badFile(file: path, message: FileBytes.directoryMessage)
        }
        let (prefix, failure) = FileBytes.readPrefix(of: descriptor, count: sniffedBytes)
        if let failure {
            throw .badFile(file: path, message: "cannot read: \(FileBytes.describe(failure))")
        }
        let complete = prefix.count < sniffedBytes
        if let error = compressedInputError(prefix: prefix, path: path) { throw error }
        return detect(prefix: prefix, isWholeFile: complete)
    }

    /// The rules, in order:
    /// 1. the binary magic `MIXFILLR` → binary;
    /// 2. the first line with content (after blank lines and `#` comments) contains `::`
    ///    → movielens-dat (no other format has two colons in a row: a Netflix movie line
    ///    is one id and one colon);
    /// 3. it ends with `:` → netflix;
    /// 4. it contains a comma or a semicolon → csv (the reader tells `,` from `;`,
    ///    `RecordLineParser.csvSeparator`);
    /// 5. every sampled line (up to 200, a header line aside) has 3 or 4 fields separated by
    ///    blanks, the first two ids and the third a positive number → triplets; an id is a
    ///    whole number, or a text id (`RecordLineParser.isTextId`) holding a digit or
    ///    longer than four bytes, so `A2SUAM1J3GNN3B` and `jane.doe@example.com` are ids but
    ///    a matrix's missing-value marks (`NA`, `NaN`, `null`, `None`) are not;
    /// 6. at least 90 % of them do, the sample cannot be a matrix (its lines differ in
    ///    their number of fields, or a field is no number), and it is not a matrix's short
    ///    row among rows with a missing entry (a line of fewer than 3 fields, and one that
    ///    would be a triplet but for a rating of 0 or less) → triplets;
    /// 7. otherwise → dense.
    /// Rule 5 reads a dense matrix of 3 or 4 items without zeros as triplets, and triplets
    /// whose ratings can be 0 or negative as dense: give `--format` for such files.
    public static func detect(prefix: [UInt8], isWholeFile: Bool) -> RatingFormat {
        if BinaryRatingFile.hasMagic(prefix) { return .binary }
        var bytes = prefix[...]
        if FileBytes.startsWithByteOrderMark(bytes) { bytes = bytes.dropFirst(3) }
        if !isWholeFile, let lastNewline = bytes.lastIndex(of: UInt8(ascii: "\n")) {
            bytes = bytes[..<lastNewline]
        }
        var contentLines = [[UInt8]]()
        for rawLine in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true) {
            let line = Array(rawLine.drop(while: FieldCursor.isBlank).reversed().drop(while: FieldCursor.isBlank).reversed())
            if line.isEmpty || line[0] == UInt8(ascii: "#") { continue }
            contentLines.append(line)
            if contentLines.count == 201 { break }
        }
        guard let first = contentLines.first else { return .dense }
        if zip(first, first.dropFirst()).contains(where: { $0 == UInt8(ascii: ":") && $1 == UInt8(ascii: ":") }) {
            return .movielensDat
        }
        if first.last == UInt8(ascii: ":") { return .netflix }
        if first.contains(UInt8(ascii: ",")) || first.contains(UInt8(ascii: ";")) { return .csv }

        func fields(_ line: [UInt8]) -> [ArraySlice<UInt8>] {
            line.split(whereSeparator: FieldCursor.isBlank)
        }
        func isInteger(_ field: ArraySlice<UInt8>) -> Bool {
            let digits = field.first == UInt8(ascii: "-") || field.first == UInt8(ascii: "+") ? field.dropFirst() : field
            return !digits.isEmpty && digits.allSatisfy { $0 &- 48 < 10 }
        }
        func isId(_ field: ArraySlice<UInt8>) -> Bool {
            if isInteger(field) { return true }
            guard field.count > 4 || field.contains(where: { $0 &- 48 < 10 }) else { return false }
            return Array(field).withUnsafeBufferPointer { RecordLineParser.isTextId($0, 0..<$0.count) }
        }
        var sample = contentLines[...]
        if let firstField = fields(first).first, !isInteger(firstField), sample.count > 1 { sample = sample.dropFirst() }
        func isNumber(_ field: ArraySlice<UInt8>) -> Bool {
            if case .number = Array(field).withUnsafeBufferPointer({ DecimalParser.parse($0) }) { return true }
            return false
        }
        /// The line's rating if it is shaped as a triplet (3 or 4 fields, the first two
        /// whole numbers, the third a finite number), whatever its sign.
        func tripletRating(_ line: [UInt8]) -> Double? {
            let parts = fields(line)
            guard parts.count == 3 || parts.count == 4, isId(parts[0]), isId(parts[1]) else { return nil }
            let rating = Array(parts[2])
            let value = rating.withUnsafeBufferPointer { DecimalParser.parse($0) }
            if case let .number(number) = value, number.isFinite { return number }
            return nil
        }
        func isTriplet(_ line: [UInt8]) -> Bool {
            tripletRating(line).map { $0 > 0 } ?? false
        }
        let tripletCount = sample.count { isTriplet($0) }
        if tripletCount == sample.count { return .triplets }
        // Rule 6: records with a bad line among them (a missing field, a rating "NA", a
        // header repeated) are no matrix either; read as triplets, the error names that
        // line in the records' terms rather than as a matrix's row.
        // A row with a 0 in the rating's place beside a line too short for a record is the
        // mark of a 3- or 4-column matrix with a short row, the error then to be named as
        // a matrix's. (Triplets mixing 3 and 4 fields, timestamps on some lines, with a
        // rating of 0 stay triplets.)
        let couldBeDense = Set(sample.map { fields($0).count }).count == 1 && sample.allSatisfy { fields($0).allSatisfy(isNumber) }
        let shortRowOfMatrix = sample.contains { fields($0).count < 3 } && sample.contains { tripletRating($0).map { $0 <= 0 } ?? false }
        if !couldBeDense, !shortRowOfMatrix, sample.count >= 2, 10 * tripletCount >= 9 * sample.count { return .triplets }
        return .dense
    }
}

extension RatingFormat {
    /// How many of an input's first bytes `compressedInputError` needs.
    package static let compressionMagicLength = 6

    /// The refusal for a compressed file or an archive given where rating data is read:
    /// nil unless `prefix` (the input's first bytes) opens with the magic number of gzip
    /// (1f 8b), bzip2 (`BZh` and a block size 1–9), xz (fd `7zXZ` 00), zstd (28 b5 2f fd)
    /// or zip (`PK` 03 04, or 05 06 for an empty archive). No rating format starts so;
    /// read as text, such bytes fail at some arbitrary line with a message about a field,
    /// or pass detection as a matrix of nonsense, so the file is refused as what it is,
    /// with how to decompress it. `path` is the input as given (`-`, a pipe by path) or
    /// as messages name it (`<stdin>`); for a stream the advice is a pipe. `inside` is the
    /// file a MovieLens zip holds for this input, named in the advice for an archive.
    package static func compressedInputError(prefix: some Collection<UInt8>, path: String,
                                             inside: String = "ratings.csv") -> MixFillError? {
        let head = Array(prefix.prefix(compressionMagicLength))
        let name = StandardInput.displayName(path)
        let isStream = name == StandardInput.name || StreamInput.isStream(path)
        let file = shellWord(path)
        if head.starts(with: [0x50, 0x4B, 0x03, 0x04]) || head.starts(with: [0x50, 0x4B, 0x05, 0x06]) {
            let unzip = isStream ? "unzip it" : "unzip it (unzip \(file))"
            return .badFile(file: name, message: "is a zip archive, which mixfill does not read; \(unzip) and give the file inside, e.g. ml-latest-small/\(inside) from MovieLens's ml-latest-small.zip")
        }
        let compressions: [(magic: [UInt8], name: String, tool: String, suffixes: [String])] = [
            ([0x1F, 0x8B], "gzip", "gunzip", [".gz", ".gzip"]),
            ([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00], "xz", "unxz", [".xz"]),
            ([0x28, 0xB5, 0x2F, 0xFD], "zstd", "unzstd", [".zst", ".zstd"]),
            ([0x42, 0x5A, 0x68], "bzip2", "bunzip2", [".bz2", ".bz"]),
        ]
        guard let compression = compressions.first(where: { head.starts(with: $0.magic) }) else { return nil }
        if compression.name == "bzip2", !(head.count > 3 && (UInt8(ascii: "1")...UInt8(ascii: "9")).contains(head[3])) {
            return nil
        }
        let what = "is \(compression.name)-compressed, which mixfill does not read"
        if isStream {
            return .badFile(file: name, message: "\(what); decompress it on the way in, e.g. \(compression.tool) -c ratings\(compression.suffixes[0]) | mixfill …")
        }
        // `tool -k FILE` writes FILE without its suffix and keeps FILE; a name without the
        // suffix the tool expects is decompressed through -c instead.
        let decompress: String
        if let suffix = compression.suffixes.first(where: { path.lowercased().hasSuffix($0) && path.count > $0.count }) {
            let output = String(path.dropLast(suffix.count))
            decompress = "\(compression.tool) -k \(file), then give \(shellWord(output))"
        } else {
            decompress = "\(compression.tool) -c \(file) > \(shellWord(path + ".txt")), then give that"
        }
        return .badFile(file: name, message: "\(what); decompress it first (\(decompress)), or give <(\(compression.tool) -c \(file)) in its place")
    }

    /// Refuses the input at `path` when its first bytes are a compressed file's or an
    /// archive's (`compressedInputError`). For a stream, the bytes read stay for the reader
    /// (`StreamInput.prefix`).
    package static func refuseCompressed(path: String) throws(MixFillError) {
        let prefix: [UInt8]
        if StreamInput.isStream(path) {
            prefix = try StreamInput.prefix(path, compressionMagicLength).bytes
        } else {
            let descriptor = open(path, O_RDONLY | O_CLOEXEC)
            // A file that does not open is the reader's to report, with its usual message.
            guard descriptor >= 0 else { return }
            defer { close(descriptor) }
            // A file that does not read is the reader's to report too.
            prefix = FileBytes.readPrefix(of: descriptor, count: compressionMagicLength).bytes
        }
        if let error = compressedInputError(prefix: prefix, path: path) { throw error }
    }

    /// `text` as one shell word: as it is when it holds only characters no shell treats
    /// specially, else in single quotes.
    static func shellWord(_ text: String) -> String {
        let plain = !text.isEmpty && text.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII && (("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
                || "._-/+,:@=%".unicodeScalars.contains(scalar))
        }
        guard !plain else { return text }
        var quoted = "'"
        for character in text { quoted += character == "'" ? "'\\''" : String(character) }
        return quoted + "'"
    }
}
