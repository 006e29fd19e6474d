/// Writes a matrix in the course's dense text format: one row per line, values separated
/// by single spaces. Whole numbers are written without a fraction (`3`), others in the
/// shortest form that reads back to the same Double.
package enum DenseMatrixWriter {
    package static func encode(_ matrix: DenseRatingMatrix) -> [UInt8] {
        var bytes = [UInt8]()
        bytes.reserveCapacity(matrix.values.count * 8)
        for user in 0..<matrix.userCount {
            for item in 0..<matrix.itemCount {
                if item > 0 { bytes.append(UInt8(ascii: " ")) }
                bytes.append(contentsOf: format(matrix[user, item]).utf8)
            }
            bytes.append(UInt8(ascii: "\n"))
        }
        return bytes
    }

    /// Writes atomically (see `AtomicFile`).
    package static func write(_ matrix: DenseRatingMatrix, to path: String) throws(MixFillError) {
        try AtomicFile.write(encode(matrix), to: path)
    }

    /// A value as the text files write it: whole numbers without a decimal point.
    package static func format(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 {
            return String(Int64(value))
        }
        return value.description
    }
}
