#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// MixFill's binary rating file (`mixfill convert`): a `RatingTable` laid out so that it
/// loads with a handful of sequential reads (or could be memory-mapped as is), versioned
/// and checksummed.
///
/// Layout, all integers little-endian (version 1: whole-number ids; version 2 adds text
/// ids, `IdMap.names`):
///
///     0    magic "MIXFILLR"                 8 bytes
///     8    version                          UInt32 (1 or 2)
///     12   item index width                 UInt8 (2 or 4 bytes)
///     13   rating encoding                  UInt8 (1 = one-byte codes + palette, 2 = Doubles)
///     14   text ids                         UInt16 (version 1: 0; version 2: bit 0 users, bit 1 items)
///     16   users n, items d, ratings m, palette size p, duplicates dropped   5 × UInt64
///     56   s sections × (offset, byte count, XXH64 of the bytes)             s × 3 × UInt64
///          (s = 6 in version 1, 8 in version 2)
///     56 + 24s  XXH64 of the bytes before it    UInt64 (at 200, or 248)
///     then zero padding to 256, and the sections, each starting at a multiple of 64 bytes:
///          user ids (n × Int64, ascending), item ids (d × Int64, ascending),
///          row starts ((n + 1) × UInt64), item indices (m × UInt16 or UInt32),
///          ratings (m × UInt8 codes or m × Double), palette (p × Double),
///          and in version 2 user names and item names: each name's UTF-8 bytes followed
///          by a line feed, in ascending byte order (empty for a column of numbers, whose
///          ids section then holds 0 ..< n).
///
/// Files without text ids are written as version 1, which every MixFill reads.
///
/// Reading checks the magic, the version (a newer one is refused with a message saying
/// so), the header's checksum, the section sizes against the counts and the file size,
/// every section's checksum, and the contents (ascending ids, monotone row starts, indices
/// and codes in range, strictly increasing items within each row, finite ratings): a
/// damaged or truncated file is an error naming the file, never a crash.
package enum BinaryRatingFile {
    package static let magic: [UInt8] = Array("MIXFILLR".utf8)
    package static let currentVersion: UInt32 = 2
    static let headerSize = 256
    static let alignment = 64
    static let sectionNames = ["user ids", "item ids", "row starts", "item indices", "ratings", "palette", "user names", "item names"]

    /// How many sections a file of `version` has.
    static func sectionCount(version: UInt32) -> Int {
        version == 1 ? 6 : 8
    }

    /// Whether `prefix` (the first bytes of a file) starts like a binary rating file.
    package static func hasMagic(_ prefix: [UInt8]) -> Bool {
        prefix.count >= magic.count && Array(prefix[0..<magic.count]) == magic
    }

    // MARK: Writing

    /// Writes `table` to `path` atomically: as version 1 when its ids are whole numbers,
    /// as version 2 when users or items have text ids.
    package static func write(_ table: RatingTable, to path: String) throws(MixFillError) {
        let matrix = table.matrix
        let userIds = table.users.ids
        let itemIds = table.items.ids
        let version: UInt32 = table.users.names == nil && table.items.names == nil ? 1 : currentVersion
        let userNames = nameBytes(table.users.names)
        let itemNames = nameBytes(table.items.names)
        let rowStarts = matrix.rowStarts.map { UInt64($0) }
        var palette: [Double] = []
        var sections: [(bytes: Int, checksum: UInt64)] = [
            (userIds.count * 8, Checksum.xxh64(elementsOf: userIds)),
            (itemIds.count * 8, Checksum.xxh64(elementsOf: itemIds)),
            (rowStarts.count * 8, Checksum.xxh64(elementsOf: rowStarts)),
        ]
        switch matrix.items {
        case let .narrow(items): sections.append((items.count * 2, Checksum.xxh64(elementsOf: items)))
        case let .wide(items): sections.append((items.count * 4, Checksum.xxh64(elementsOf: items)))
        }
        switch matrix.ratings {
        case let .coded(values, codes):
            palette = values
            sections.append((codes.count, Checksum.xxh64(elementsOf: codes)))
        case let .exact(values):
            sections.append((values.count * 8, Checksum.xxh64(elementsOf: values)))
        }
        sections.append((palette.count * 8, Checksum.xxh64(elementsOf: palette)))
        if version >= 2 {
            sections.append((userNames.count, Checksum.xxh64(elementsOf: userNames)))
            sections.append((itemNames.count, Checksum.xxh64(elementsOf: itemNames)))
        }

        var header = [UInt8]()
        header.reserveCapacity(headerSize)
        header += magic
        append(&header, version)
        header.append(UInt8(matrix.items.byteWidth))
        header.append(matrix.ratings.byteWidth == 1 ? 1 : 2)
        append(&header, UInt16((table.users.names == nil ? 0 : 1) | (table.items.names == nil ? 0 : 2)))
        for count in [matrix.userCount, matrix.itemCount, matrix.observedCount, palette.count, table.duplicatePairs] {
            append(&header, UInt64(count))
        }
        var offset = headerSize
        for section in sections {
            append(&header, UInt64(offset))
            append(&header, UInt64(section.bytes))
            append(&header, section.checksum)
            offset = aligned(offset + section.bytes)
        }
        append(&header, Checksum.xxh64(header))
        header += [UInt8](repeating: 0, count: headerSize - header.count)

        let stream = try AtomicOutputStream(path: path)
        try stream.write(header)
        func pad(after bytes: Int) throws(MixFillError) {
            try stream.writeZeros(aligned(bytes) - bytes)
        }
        try stream.write(elementsOf: userIds)
        try pad(after: sections[0].bytes)
        try stream.write(elementsOf: itemIds)
        try pad(after: sections[1].bytes)
        try stream.write(elementsOf: rowStarts)
        try pad(after: sections[2].bytes)
        switch matrix.items {
        case let .narrow(items): try stream.write(elementsOf: items)
        case let .wide(items): try stream.write(elementsOf: items)
        }
        try pad(after: sections[3].bytes)
        switch matrix.ratings {
        case let .coded(_, codes): try stream.write(elementsOf: codes)
        case let .exact(values): try stream.write(elementsOf: values)
        }
        try pad(after: sections[4].bytes)
        try stream.write(elementsOf: palette)
        if version >= 2 {
            try pad(after: sections[5].bytes)
            try stream.write(elementsOf: userNames)
            try pad(after: sections[6].bytes)
            try stream.write(elementsOf: itemNames)
        }
        try stream.commit()
    }

    /// A names section's bytes: each name's UTF-8 bytes and a line feed (names hold no
    /// control bytes, `RecordLineParser.isName`); none for a column of numbers.
    private static func nameBytes(_ names: [String]?) -> [UInt8] {
        guard let names else { return [] }
        var bytes = [UInt8]()
        bytes.reserveCapacity(names.reduce(0) { $0 + $1.utf8.count + 1 })
        for name in names {
            bytes += name.utf8
            bytes.append(UInt8(ascii: "\n"))
        }
        return bytes
    }

    /// The names of a names section (`nameBytes`), nil unless they are `count` valid
    /// names in ascending byte order.
    private static func names(_ bytes: [UInt8], count: Int) -> [String]? {
        guard bytes.last == UInt8(ascii: "\n") else { return nil }
        var names = [String]()
        names.reserveCapacity(count)
        let valid = bytes.withUnsafeBufferPointer { buffer in
            var start = 0
            for end in buffer.indices where buffer[end] == UInt8(ascii: "\n") {
                guard names.count < count, RecordLineParser.isName(buffer, start..<end) else { return false }
                names.append(String(decoding: UnsafeBufferPointer(rebasing: buffer[start..<end]), as: UTF8.self))
                start = end + 1
            }
            return true
        }
        guard valid, names.count == count, IdMap.areStrictlyIncreasing(names) else { return nil }
        return names
    }

    static func aligned(_ offset: Int) -> Int {
        (offset + alignment - 1) / alignment * alignment
    }

    private static func append<T: FixedWidthInteger>(_ bytes: inout [UInt8], _ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    // MARK: Reading

    /// Reads the file at `path`. `-` (standard input) and pipes are read through a
    /// temporary copy (the reader seeks to each section); errors for `-` name `<stdin>`.
    package static func read(path: String) throws(MixFillError) -> RatingTable {
        let descriptor = StreamInput.isStream(path) ? try StreamInput.spooledCopy(path) : open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw .badFile(file: path, message: FileBytes.openFailure(errno))
        }
        defer { close(descriptor) }
        return try read(descriptor: descriptor, name: StandardInput.displayName(path))
    }

    /// What the header says: the counts, the encodings and where each section lies.
    private struct Layout {
        let userCount: Int
        let itemCount: Int
        let ratingCount: Int
        let paletteCount: Int
        let duplicates: Int
        /// Bytes per item index (2 or 4).
        let itemWidth: Int
        /// 1: one-byte codes and a palette; 2: Doubles.
        let ratingEncoding: UInt8
        /// Whether the users' (items') ids are text, in the names sections.
        let userNames: Bool
        let itemNames: Bool
        let sections: [(offset: Int, bytes: Int, checksum: UInt64)]
    }

    private static let damaged = "; convert the original file again with 'mixfill convert'"

    /// Reads and checks the header of the open file `descriptor`: magic, version, checksum,
    /// counts, and every section's place and size against the file's size.
    private static func layout(descriptor: Int32, name path: String) throws(MixFillError) -> Layout {
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw .badFile(file: path, message: "cannot read: \(FileBytes.describe(errno))")
        }
        let fileSize = Int(status.st_size)
        // A compressed binary file (ratings.bin.gz) says so rather than that it is short
        // or has no MIXFILLR header.
        let opening: [UInt8] = try readArray(descriptor, path: path, offset: 0, count: min(fileSize, RatingFormat.compressionMagicLength))
        if let error = RatingFormat.compressedInputError(prefix: opening, path: path) { throw error }
        guard fileSize >= headerSize else {
            throw .badFile(file: path, message: "is too short for a MixFill binary rating file (\(fileSize) bytes)\(damaged)")
        }
        let header: [UInt8] = try readArray(descriptor, path: path, offset: 0, count: headerSize)
        guard hasMagic(header) else {
            throw .badFile(file: path, message: "is not a MixFill binary rating file (no MIXFILLR header); give a file written by 'mixfill convert'")
        }
        let version = field(UInt32.self, header, 8)
        guard version <= currentVersion, version >= 1 else {
            throw .badFile(file: path, message: "binary rating file version \(version) is newer than this MixFill reads (\(currentVersion)); upgrade MixFill or convert the text file again")
        }
        let sectionCount = sectionCount(version: version)
        let checksumOffset = 56 + 24 * sectionCount
        guard field(UInt64.self, header, checksumOffset) == Checksum.xxh64(Array(header[0..<checksumOffset])) else {
            throw .badFile(file: path, message: "header checksum does not match: the file is damaged\(damaged)")
        }
        let textIds = field(UInt16.self, header, 14)
        guard textIds == 0 || (version >= 2 && textIds <= 3) else {
            throw .badFile(file: path, message: "header describes an impossible layout (text ids \(textIds) in version \(version))\(damaged)")
        }
        let itemWidth = Int(header[12])
        let ratingEncoding = header[13]
        let counts = (0..<5).map { Int(clamping: field(UInt64.self, header, 16 + 8 * $0)) }
        let (userCount, itemCount, ratingCount, paletteCount, duplicates) = (counts[0], counts[1], counts[2], counts[3], counts[4])
        let expectedWidth = ItemIndices.isNarrow(itemCount: itemCount) ? 2 : 4
        guard itemWidth == expectedWidth, ratingEncoding == 1 || ratingEncoding == 2,
              (ratingEncoding == 1) == (paletteCount > 0), paletteCount <= RatingPalette.capacity,
              userCount >= 1, itemCount >= 1, ratingCount >= 1, userCount < Int(UInt32.max), itemCount < Int(UInt32.max),
              ratingCount <= fileSize else {
            throw .badFile(file: path, message: "header describes an impossible layout (\(userCount) users, \(itemCount) items, \(ratingCount) ratings)\(damaged)")
        }
        let expectedBytes = [userCount * 8, itemCount * 8, (userCount + 1) * 8, ratingCount * itemWidth,
                             ratingCount * (ratingEncoding == 1 ? 1 : 8), paletteCount * 8]
        var sections = [(offset: Int, bytes: Int, checksum: UInt64)]()
        var end = headerSize
        for index in 0..<sectionCount {
            let base = 56 + 24 * index
            let offset = Int(clamping: field(UInt64.self, header, base))
            let bytes = Int(clamping: field(UInt64.self, header, base + 8))
            // A names section holds at least two bytes a name (one byte and its line
            // feed), and none for a column of numbers.
            let hasNames = index == 6 ? textIds & 1 != 0 : textIds & 2 != 0
            let sizeFits = index < 6 ? bytes == expectedBytes[index]
                : hasNames ? bytes >= 2 * (index == 6 ? userCount : itemCount) : bytes == 0
            guard sizeFits, offset >= end, offset % alignment == 0,
                  offset <= fileSize, bytes <= fileSize - offset else {
                throw .badFile(file: path, message: "the \(sectionNames[index]) section lies outside the file or has the wrong size (the file is truncated or damaged)\(damaged)")
            }
            sections.append((offset, bytes, field(UInt64.self, header, base + 16)))
            end = offset + bytes
        }
        return Layout(userCount: userCount, itemCount: itemCount, ratingCount: ratingCount, paletteCount: paletteCount,
                      duplicates: duplicates, itemWidth: itemWidth, ratingEncoding: ratingEncoding,
                      userNames: textIds & 1 != 0, itemNames: textIds & 2 != 0, sections: sections)
    }

    /// The users' and items' id maps: the ids sections, or for text ids the names sections
    /// (the ids sections then holding 0 ..< n), their checksums and contents checked.
    private static func idMaps(_ layout: Layout, _ descriptor: Int32, path: String) throws(MixFillError) -> (users: IdMap, items: IdMap) {
        func map(_ idsSection: Int, _ namesSection: Int, hasNames: Bool, count: Int) throws(MixFillError) -> IdMap {
            let ids: [Int64] = try load(idsSection, Int64.self, layout, descriptor, path: path)
            guard hasNames else {
                guard IdMap.isStrictlyIncreasing(ids) else { throw invalid(path, "ids are not in ascending order") }
                return IdMap(sortedIds: ids)
            }
            guard ids.elementsEqual(0..<Int64(count)),
                  let names = names(try load(namesSection, UInt8.self, layout, descriptor, path: path), count: count) else {
                throw invalid(path, "the \(sectionNames[namesSection]) are not \(count) distinct names in ascending order")
            }
            return IdMap(sortedNames: names)
        }
        return (try map(0, 6, hasNames: layout.userNames, count: layout.userCount),
                try map(1, 7, hasNames: layout.itemNames, count: layout.itemCount))
    }

    /// Section `index` whole, its checksum checked.
    private static func load<T>(_ index: Int, _ type: T.Type, _ layout: Layout, _ descriptor: Int32,
                                path: String) throws(MixFillError) -> [T] {
        let section = layout.sections[index]
        let values: [T] = try readArray(descriptor, path: path, offset: section.offset, count: section.bytes / MemoryLayout<T>.stride)
        guard Checksum.xxh64(elementsOf: values) == section.checksum else {
            throw .badFile(file: path, message: "the \(sectionNames[index]) section's checksum does not match: the file is damaged\(damaged)")
        }
        return values
    }

    /// The error for a file whose checksums match but whose contents break a rule.
    private static func invalid(_ path: String, _ what: String) -> MixFillError {
        .badFile(file: path, message: "its checksums match but \(what); it was not written by MixFill\(damaged)")
    }

    /// Reads the open file `descriptor` (positioned reads; the descriptor's offset is not
    /// used); `path` names it in errors.
    private static func read(descriptor: Int32, name path: String) throws(MixFillError) -> RatingTable {
        let layout = try layout(descriptor: descriptor, name: path)
        let (userCount, itemCount, ratingCount) = (layout.userCount, layout.itemCount, layout.ratingCount)
        let duplicates = layout.duplicates
        func load<T>(_ index: Int, _ type: T.Type) throws(MixFillError) -> [T] {
            try Self.load(index, type, layout, descriptor, path: path)
        }
        let ids = try idMaps(layout, descriptor, path: path)
        let rawStarts = try load(2, UInt64.self)
        let invalid = { (what: String) -> MixFillError in Self.invalid(path, what) }
        guard rawStarts[0] == 0, rawStarts[userCount] == UInt64(ratingCount), isNondecreasing(rawStarts) else {
            throw invalid("row starts are not monotone from 0 to the number of ratings")
        }
        let rowStarts = rawStarts.map { Int($0) }
        let (items, ratings) = try rows(layout, descriptor, path: path, rowStarts: rowStarts, first: 0, whole: true)
        let matrix = SparseRatingMatrix(userCount: userCount, itemCount: itemCount, rowStarts: rowStarts,
                                        items: items, ratings: ratings)
        return RatingTable(matrix: matrix, users: ids.users, items: ids.items, duplicatePairs: duplicates)
    }

    /// The item indices and ratings of the rows `rowStarts` describes (positions from 0),
    /// which start at rating `first` of the file, their contents checked. `whole`: they are
    /// the whole sections, whose checksums are checked too.
    private static func rows(_ layout: Layout, _ descriptor: Int32, path: String, rowStarts: [Int], first: Int,
                             whole: Bool) throws(MixFillError) -> (ItemIndices, RatingValues) {
        let count = rowStarts.last ?? 0
        func slice<T>(_ index: Int, _ type: T.Type) throws(MixFillError) -> [T] {
            if whole { return try load(index, type, layout, descriptor, path: path) }
            let stride = MemoryLayout<T>.stride
            return try readArray(descriptor, path: path, offset: layout.sections[index].offset + first * stride, count: count)
        }
        let items: ItemIndices
        if layout.itemWidth == 2 {
            let values = try slice(3, UInt16.self)
            guard rowsAreValid(values, rowStarts, layout.itemCount) else { throw invalid(path, "an item index is out of range or a row is not sorted") }
            items = .narrow(values)
        } else {
            let values = try slice(3, UInt32.self)
            guard rowsAreValid(values, rowStarts, layout.itemCount) else { throw invalid(path, "an item index is out of range or a row is not sorted") }
            items = .wide(values)
        }
        let ratings: RatingValues
        if layout.ratingEncoding == 1 {
            let codes = try slice(4, UInt8.self)
            let palette = try load(5, Double.self, layout, descriptor, path: path)
            guard palette.allSatisfy(Self.isAdmissible) else { throw invalid(path, "a rating is not finite or beyond ±1e100") }
            guard codes.allSatisfy({ Int($0) < layout.paletteCount }) else { throw invalid(path, "a rating code is beyond the rating table") }
            ratings = .coded(palette: palette, codes: codes)
        } else {
            let values = try slice(4, Double.self)
            guard values.allSatisfy(Self.isAdmissible) else { throw invalid(path, "a rating is not finite or beyond ±1e100") }
            ratings = .exact(values)
        }
        return (items, ratings)
    }

    /// One share of a binary rating file's users, read without the others' ratings.
    package struct UserShare: Sendable {
        /// The share's users (re-numbered from 0) and their ratings.
        package let matrix: SparseRatingMatrix
        /// The share's users among the file's.
        package let users: Range<Int>
        /// The whole file's ids and number of ratings.
        package let userIds: IdMap
        package let itemIds: IdMap
        package let observedCount: Int
        /// Records of the original file that repeated a (user, item) pair (`RatingTable.duplicatePairs`).
        package let duplicatePairs: Int
    }

    /// The users `share(userCount)` of the file at `path` (an MPI rank's block): the
    /// header, the ids (and names) and the row starts whole, their checksums checked, then only those
    /// users' parts of the item-index and rating sections, whose contents are checked
    /// (indices in range and ascending in each row, codes in range, ratings finite) but not
    /// the sections' checksums, which cover the whole sections (any single-process read
    /// of the file checks those).
    package static func readUsers(path: String, share: (_ userCount: Int) throws(MixFillError) -> Range<Int>) throws(MixFillError) -> UserShare {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw .badFile(file: path, message: FileBytes.openFailure(errno))
        }
        defer { close(descriptor) }
        let layout = try layout(descriptor: descriptor, name: path)
        let ids = try idMaps(layout, descriptor, path: path)
        let rawStarts: [UInt64] = try load(2, UInt64.self, layout, descriptor, path: path)
        guard rawStarts[0] == 0, rawStarts[layout.userCount] == UInt64(layout.ratingCount), isNondecreasing(rawStarts) else {
            throw invalid(path, "row starts are not monotone from 0 to the number of ratings")
        }
        let users = try share(layout.userCount)
        precondition(users.lowerBound >= 0 && users.upperBound <= layout.userCount, "a share within the file's users")
        let first = Int(rawStarts[users.lowerBound])
        let rowStarts = rawStarts[users.lowerBound...users.upperBound].map { Int($0) - first }
        let (items, ratings) = try rows(layout, descriptor, path: path, rowStarts: rowStarts, first: first, whole: false)
        let matrix = SparseRatingMatrix(userCount: users.count, itemCount: layout.itemCount, rowStarts: rowStarts,
                                        items: items, ratings: ratings)
        return UserShare(matrix: matrix, users: users, userIds: ids.users, itemIds: ids.items,
                         observedCount: layout.ratingCount, duplicatePairs: layout.duplicates)
    }

    private static func field<T: FixedWidthInteger>(_ type: T.Type, _ bytes: [UInt8], _ offset: Int) -> T {
        bytes.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
    }

    /// `count` values read from `offset` straight into a new array.
    private static func readArray<T>(_ descriptor: Int32, path: String, offset: Int, count: Int) throws(MixFillError) -> [T] {
        var failure: MixFillError?
        let values = [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            var done = 0
            while done < raw.count {
                guard let base = raw.baseAddress else { break }
                let got = pread(descriptor, base + done, raw.count - done, off_t(offset + done))
                if got < 0, errno == EINTR { continue }
                if got <= 0 {
                    failure = .badFile(file: path, message: got == 0 ? "ends early (truncated); convert the original file again with 'mixfill convert'" : "cannot read: \(FileBytes.describe(errno))")
                    // Zero the rest so the array is fully initialised even on failure.
                    if let base = raw.baseAddress { memset(base + done, 0, raw.count - done) }
                    break
                }
                done += got
            }
            initialized = count
        }
        if let failure { throw failure }
        return values
    }

    /// A rating every reader accepts (`RatingRules`: finite, within ±1e100).
    private static func isAdmissible(_ rating: Double) -> Bool {
        rating.isFinite && RatingRules.isWithinMagnitude(rating)
    }

    private static func isNondecreasing(_ values: [UInt64]) -> Bool {
        values.indices.dropFirst().allSatisfy { values[$0 - 1] <= values[$0] }
    }

    private static func rowsAreValid<Index: FixedWidthInteger & UnsignedInteger>(_ items: [Index], _ rowStarts: [Int], _ itemCount: Int) -> Bool {
        items.withUnsafeBufferPointer { items in
            for user in 0..<(rowStarts.count - 1) {
                let start = rowStarts[user]
                let end = rowStarts[user + 1]
                guard start < end else { continue }
                if Int(items[start]) >= itemCount { return false }
                var position = start + 1
                while position < end {
                    if items[position] <= items[position - 1] || Int(items[position]) >= itemCount { return false }
                    position += 1
                }
            }
            return true
        }
    }
}
