/// Pointer views of a `SparseRatingMatrix`'s rows for the kernels' inner loops, valid only
/// inside `SparseRatingMatrix.withRows`. The kernels' loops are generic over the index type
/// and the rating storage, so each of the four combinations compiles to its own tight loop.
/// The integer types item indices are stored in (`UInt16`, `UInt32`).
typealias RowIndex = FixedWidthInteger & UnsignedInteger & Sendable

protocol RatingReader: Sendable {
    func rating(at position: Int) -> Double
    /// The storage as `Modules/CLanes` reads it.
    var storage: RatingStorage { get }
}

/// The palette and the codes of coded ratings, or the values of exact ones (the others nil).
typealias RatingStorage = (palette: UnsafePointer<Double>?, codes: UnsafePointer<UInt8>?, values: UnsafePointer<Double>?)

/// Ratings stored as one-byte codes into a palette of distinct values.
struct CodedRatingReader: RatingReader, @unchecked Sendable {
    let palette: UnsafePointer<Double>
    let codes: UnsafePointer<UInt8>
    @inline(__always) func rating(at position: Int) -> Double { palette[Int(codes[position])] }
    var storage: RatingStorage { (palette, codes, nil) }
}

/// Ratings stored as Doubles.
struct ExactRatingReader: RatingReader, @unchecked Sendable {
    let values: UnsafePointer<Double>
    @inline(__always) func rating(at position: Int) -> Double { values[position] }
    var storage: RatingStorage { (nil, nil, values) }
}

/// A user's ratings are positions `rowStarts[u] ..< rowStarts[u + 1]`.
///
/// `@unchecked Sendable`: threads share these read-only views of arrays that outlive them
/// (the views exist only inside `withRows`, which the threads never leave).
struct SparseRows<Index: RowIndex, Ratings: RatingReader>: @unchecked Sendable {
    let rowStarts: UnsafePointer<Int>
    let items: UnsafePointer<Index>
    let ratings: Ratings
}

/// Something to run on the rows, whichever storage they have.
protocol SparseRowsVisitor {
    associatedtype Result
    func visit<Index: RowIndex, Ratings: RatingReader>(_ rows: SparseRows<Index, Ratings>) -> Result
}

/// A mutable buffer threads write to at disjoint places (`@unchecked Sendable` for that
/// reason: each thread owns its own range).
struct SharedMutableBuffer: @unchecked Sendable {
    let base: UnsafeMutablePointer<Double>
}

extension SparseRatingMatrix {
    /// Runs `visitor` on pointer views of the rows.
    func withRows<Visitor: SparseRowsVisitor>(_ visitor: Visitor) -> Visitor.Result {
        rowStarts.withUnsafeBufferPointer { starts in
            switch items {
            case let .narrow(indices):
                return indices.withUnsafeBufferPointer { indices in
                    withRatings(visitor, starts, indices)
                }
            case let .wide(indices):
                return indices.withUnsafeBufferPointer { indices in
                    withRatings(visitor, starts, indices)
                }
            }
        }
    }

    private func withRatings<Visitor: SparseRowsVisitor, Index: RowIndex>(
        _ visitor: Visitor, _ starts: UnsafeBufferPointer<Int>, _ indices: UnsafeBufferPointer<Index>
    ) -> Visitor.Result {
        // Empty arrays may have no base address; a one-element stand-in is never read.
        let placeholderIndex = [Index](repeating: 0, count: 1)
        let placeholderValue = [Double](repeating: 0, count: 1)
        let placeholderCode = [UInt8](repeating: 0, count: 1)
        return placeholderIndex.withUnsafeBufferPointer { spareIndex in
            placeholderValue.withUnsafeBufferPointer { spareValue in
                placeholderCode.withUnsafeBufferPointer { spareCode in
                guard let startsBase = starts.baseAddress, let spareIndexBase = spareIndex.baseAddress,
                      let spareValueBase = spareValue.baseAddress, let spareCodeBase = spareCode.baseAddress else {
                    preconditionFailure("row starts always hold at least one entry")
                }
                let itemsBase = indices.baseAddress ?? spareIndexBase
                switch ratings {
                case let .coded(palette, codes):
                    return palette.withUnsafeBufferPointer { palette in
                        codes.withUnsafeBufferPointer { codes in
                            let reader = CodedRatingReader(
                                palette: palette.baseAddress ?? spareValueBase,
                                codes: codes.baseAddress ?? spareCodeBase)
                            return visitor.visit(SparseRows(rowStarts: startsBase, items: itemsBase, ratings: reader))
                        }
                    }
                case let .exact(values):
                    return values.withUnsafeBufferPointer { values in
                        let reader = ExactRatingReader(values: values.baseAddress ?? spareValueBase)
                        return visitor.visit(SparseRows(rowStarts: startsBase, items: itemsBase, ratings: reader))
                    }
                }
                }
            }
        }
    }
}
