/// Writes a `RatingTable` as text records, sorted by user id then item id, with the file's
/// ids: triplets are `user<TAB>item<TAB>rating`, CSV is `userId,itemId,rating` after that
/// header. Ratings are written as `DenseMatrixWriter` writes values (whole numbers without
/// a fraction, others in the shortest form that reads back exactly), so reading the output
/// gives the same table. A triplets file whose first user id begins with U+FEFF starts with
/// a byte order mark of its own, since readers take a file's leading mark off, id or not.
package enum RecordWriter {
    package static func write(_ table: RatingTable, to path: String, layout: RecordLayout) throws(MixFillError) {
        guard layout != .netflix else {
            throw .badOption(option: "--to", message: "writing the Netflix layout is not supported; use triplets, csv or binary")
        }
        let stream = try AtomicOutputStream(path: path)
        var atStart = true
        let separator = layout == .csv ? "," : "\t"
        var text = [UInt8]()
        text.reserveCapacity(1 << 20)
        if layout == .csv { text += Array("userId,itemId,rating\n".utf8) }
        let matrix = table.matrix
        let itemIds = try (0..<table.items.count).map { (item) throws(MixFillError) in try field(table.items.name(item), layout: layout, what: "item") }
        for user in 0..<matrix.userCount {
            let userId = try field(table.users.name(user), layout: layout, what: "user")
            for position in matrix.rowStarts[user]..<matrix.rowStarts[user + 1] {
                text += Array("\(userId)\(separator)\(itemIds[matrix.items[position]])\(separator)\(DenseMatrixWriter.format(matrix.ratings[position]))\n".utf8)
            }
            if text.count > 1 << 19 {
                try write(&text, to: stream, atStart: &atStart)
            }
        }
        try write(&text, to: stream, atStart: &atStart)
        try stream.commit()
    }

    /// Writes `text` and empties it; the file's first bytes get a byte order mark before
    /// them when they begin with one (an id starting with U+FEFF), which a reader takes off.
    private static func write(_ text: inout [UInt8], to stream: AtomicOutputStream, atStart: inout Bool) throws(MixFillError) {
        if atStart, FileBytes.startsWithByteOrderMark(text) { try stream.write(FileBytes.byteOrderMark) }
        if !text.isEmpty { atStart = false }
        try stream.write(text)
        text.removeAll(keepingCapacity: true)
    }

    /// An id as a field of `layout` that reads back as the same id: in CSV, a name holding a
    /// comma, a semicolon (which could make the first line read as `;`-separated,
    /// `RecordLineParser.csvSeparator`) or a quote, with blanks at its ends or a `#` first is
    /// quoted (`"a, b"`, quotes doubled); the blank-separated layout cannot hold a name with a blank, nor a user
    /// name starting with `#` (a line so starting is a comment), which are refused.
    static func field(_ id: String, layout: RecordLayout, what: String) throws(MixFillError) -> String {
        let bytes = Array(id.utf8)
        let blank: (UInt8) -> Bool = { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
        if layout == .csv {
            let needsQuotes = bytes.contains { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: ";") || $0 == UInt8(ascii: "\"") }
                || bytes.first.map(blank) == true || bytes.last.map(blank) == true || bytes.first == UInt8(ascii: "#")
            return needsQuotes ? "\"" + id.reduce(into: "") { $0 += $1 == "\"" ? "\"\"" : String($1) } + "\"" : id
        }
        guard !bytes.contains(where: blank), what != "user" || bytes.first != UInt8(ascii: "#") else {
            throw .badOption(option: "--to", message: "\(what) id '\(id)' \(bytes.first == UInt8(ascii: "#") ? "starts with '#', which opens a comment" : "holds a blank, which") the \(layout.rawValue) layout cannot hold; write csv instead")
        }
        return id
    }
}
