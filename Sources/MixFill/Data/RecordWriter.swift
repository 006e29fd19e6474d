/// Writes a `RatingTable` as text records, sorted by user id then item id, with the file's
/// ids: triplets are `user<TAB>item<TAB>rating`, CSV is `userId,itemId,rating` after that
/// header. Ratings are written as `DenseMatrixWriter` writes values (whole numbers without
/// a fraction, others in the shortest form that reads back exactly), so reading the output
/// gives the same table.
package enum RecordWriter {
    package static func write(_ table: RatingTable, to path: String, layout: RecordLayout) throws(MixFillError) {
        guard layout != .netflix else {
            throw .badOption(option: "--to", message: "writing the Netflix layout is not supported; use triplets, csv or binary")
        }
        let stream = try AtomicOutputStream(path: path)
        let separator = layout == .csv ? "," : "\t"
        var text = [UInt8]()
        text.reserveCapacity(1 << 20)
        if layout == .csv { text += Array("userId,itemId,rating\n".utf8) }
        let matrix = table.matrix
        for user in 0..<matrix.userCount {
            let userId = String(table.users.id(user))
            for position in matrix.rowStarts[user]..<matrix.rowStarts[user + 1] {
                text += Array("\(userId)\(separator)\(table.items.id(matrix.items[position]))\(separator)\(DenseMatrixWriter.format(matrix.ratings[position]))\n".utf8)
            }
            if text.count > 1 << 19 {
                try stream.write(text)
                text.removeAll(keepingCapacity: true)
            }
        }
        try stream.write(text)
        try stream.commit()
    }
}
