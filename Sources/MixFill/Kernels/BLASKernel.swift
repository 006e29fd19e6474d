/// The E-step and M-step sums as matrix products on OpenBLAS, for one restart or a batch.
///
/// The data are X (n × d, ratings with 0 at missing entries) and the 0/1 mask M. With
/// B₁ = −2μ and B₂ = μ∘μ (both K × d),
///
///     ‖x_{C_u} − μ_{j,C_u}‖² = ‖x_u‖² + (X·B₁ᵀ + M·B₂ᵀ)_{uj}      n × d × K, twice
///     Nᵀ = Xᵀ·P,  Dᵀ = Mᵀ·P                                       d × n × K, twice
///
/// so an iteration is four GEMMs plus O(n·K + K·d) loops. (Stacking Z = [X | M] would
/// make them two GEMMs of twice the depth, which does no less work, and keeping X apart
/// lets a double-precision kernel whose ratings need no shift use the data's own array
/// instead of a copy.) The users are taken in blocks of
/// `usersPerBlock`, both products of a block running while its rows of X and M are in
/// cache. Several restarts (mixtures, any K each) run as one batch: their B's are stacked
/// in one workspace, and each block of users is multiplied by every restart's B while it
/// is in cache, so the data are read from memory once per iteration for all of them.
///
/// Batching is exact. A BLAS chooses its kernels and summation orders by the shape of a
/// call (OpenBLAS's AVX-512 builds switch to direct small-matrix kernels below a size in
/// M·N·K, and every build has edge kernels for a ragged N), so one GEMM over all ΣK
/// columns may sum a restart's columns in another order than that restart's own call of
/// the solo shape (users × K × d) does. So in double precision the kernel asks, once per
/// shape (block rows, the restarts' widths, the BLAS's thread count), whether the stacked
/// call reproduces the solo-shaped calls bit for bit (`StackingProbe`: both run on
/// pseudo-random operands of exactly those shapes, every output compared), and makes the
/// stacked call where it does and one call per restart where it does not. The tests check
/// batches against solo runs bit for bit. Single precision always stacks (one SGEMM over
/// every column); its batches match solo runs to Float rounding only, and it takes the
/// distances component-major, B·Xᵀ (see `distanceProductsByComponent`).
///
/// Workspaces grow to the widest batch seen and are reused: no n × K or n × d buffer is
/// allocated per iteration. A kernel covers a contiguous range of users (a shard); see
/// `shards(of:count:precision:)`.
final class BLASKernel: StatisticsKernel {
    let userCount: Int
    let itemCount: Int
    let name = "blas"
    let precision: Precision
    /// c, subtracted from every observed rating before it is stored (see `ratingOffset(of:)`).
    let ratingOffset: Double

    /// X − c·M for this shard's users, row-major, starting at `ratingsStart`. In double
    /// precision with c = 0 this is the data's own array (shared, not copied), otherwise a
    /// copy of the shard's rows (Float in single precision).
    private let ratingsDouble: [Double]
    private let ratingsSingle: [Float]
    private let ratingsStart: Int
    /// M for this shard's users, row-major users × d, in the kernel's precision.
    private let maskDouble: [Double]
    private let maskSingle: [Float]
    /// ‖x_u‖² and |C_u| per user, for the statistics.
    private let squaredNorms: [Double]
    private let observedCounts: [Double]
    /// Σ_{i∈C_u} (x_ui − c)², the norm that goes with the stored (shifted) ratings.
    private let shiftedSquaredNorms: [Double]

    // Workspaces for up to `columnCapacity` stacked components.
    private var columnCapacity = 0
    private var coefficientsDouble: [Double] = []   // [B₁ | B₂] = [−2(μ − c) | (μ − c)²], ΣK × 2d
    private var coefficientsSingle: [Float] = []
    private var posteriorsDouble: [Double] = []     // X·B₁ᵀ + M·B₂ᵀ, then f, then p(j|u): n × ΣK
    private var posteriorsSingle: [Float] = []      // single: p(j|u), for the statistics' SGEMMs
    private var productsSingle: [Float] = []        // single: one block's X·B₁ᵀ + M·B₂ᵀ, ΣK × block users
    private var sumsDouble: [Double] = []           // [Nᵀ ; Dᵀ], 2d × ΣK
    private var sumsSingle: [Float] = []
    private var columnLogWeights: [Double] = []     // per stacked component: the E-step's constants
    private var columnLogNormalisers: [Double] = []
    private var columnVariances: [Double] = []
    private var columnResponsibilities: [Double] = []   // per stacked component: sums over users
    private var columnSquaredNorms: [Double] = []
    private var columnObservedCounts: [Double] = []
    /// `StackingProbe`'s verdict per shape met so far.
    private var stackingVerdicts: [StackingProbe.Shape: Bool] = [:]

    /// Users at most this many per single-precision GEMM over users, whose partial sums
    /// are then added in Double: Float's 24 bits would otherwise blur D and N on very
    /// large data (sums of ~1e5 terms).
    static let singlePrecisionUserBlock = 4096

    /// The c every shard of `data` stores its ratings shifted by: the integer nearest the
    /// median observed rating (0 for a matrix without ratings). The squared distance
    /// ‖x_{C_u} − μ_{j,C_u}‖² = ‖x_u‖² − 2 x_u·μ_j + m_u·(μ_j∘μ_j) is a small difference of
    /// large terms when the ratings sit far from 0; shifting x and μ by c leaves it unchanged
    /// and shrinks the terms (tenfold on 1–5 stars), so fewer digits cancel. The median, not
    /// the mean, so that a few huge ratings cannot move c away from the bulk (where the shift
    /// would cancel the ordinary ratings' digits instead); of an even sample of at most
    /// `offsetSample` entries, since c only has to lie in the bulk, and exactly where it
    /// lies changes nothing but rounding. Integer and half-star ratings stay exact after the
    /// shift, in Float too. One c for the whole matrix, so every shard count shifts alike.
    static func ratingOffset(of data: DenseRatingMatrix) -> Double {
        let stride = max(1, data.values.count / offsetSample)
        var sample = [Double]()
        sample.reserveCapacity(min(data.values.count, offsetSample + 1))
        for index in Swift.stride(from: 0, to: data.values.count, by: stride) where data.values[index] != 0 {
            sample.append(data.values[index])
        }
        if sample.isEmpty {
            // Every sampled entry missing: take the observed ones themselves.
            sample = data.values.filter { $0 != 0 }
        }
        return roundedMedian(&sample)
    }

    /// The same c for records (`BlockedKernel`): the rounded median of an even sample of
    /// at most `offsetSample` of the stored ratings, every one of which is observed.
    static func ratingOffset(of matrix: SparseRatingMatrix) -> Double {
        let count = matrix.observedCount
        let stride = max(1, count / offsetSample)
        var sample = [Double]()
        sample.reserveCapacity(min(count, offsetSample + 1))
        for position in Swift.stride(from: 0, to: count, by: stride) {
            sample.append(matrix.ratings[position])
        }
        return roundedMedian(&sample)
    }

    /// The median of `sample` (reordered) rounded to an integer; 0 for no sample.
    private static func roundedMedian(_ sample: inout [Double]) -> Double {
        guard !sample.isEmpty else { return 0 }
        return selectInPlace(&sample, rank: sample.count / 2).rounded()
    }

    /// Entries `ratingOffset` looks at, at most.
    static let offsetSample = 1 << 16

    /// The value of rank `rank` (0-based) in ascending order, by quickselect (expected O(n)):
    /// `values` is reordered.
    static func selectInPlace(_ values: inout [Double], rank: Int) -> Double {
        precondition(rank >= 0 && rank < values.count)
        var low = 0
        var high = values.count - 1
        while low < high {
            // Median of three as the pivot, then a three-way partition (equal values are
            // common: ratings take few distinct values).
            let middle = low + (high - low) / 2
            let pivot = Swift.max(Swift.min(values[low], values[middle]), Swift.min(Swift.max(values[low], values[middle]), values[high]))
            var below = low
            var index = low
            var above = high
            while index <= above {
                if values[index] < pivot {
                    values.swapAt(index, below)
                    below += 1
                    index += 1
                } else if values[index] > pivot {
                    values.swapAt(index, above)
                    above -= 1
                } else {
                    index += 1
                }
            }
            if rank < below {
                high = below - 1
            } else if rank > above {
                low = above + 1
            } else {
                return pivot
            }
        }
        return values[rank]
    }

    /// A kernel over `users` (all of them by default) of `data`, its ratings shifted by
    /// `ratingOffset` (by default `ratingOffset(of: data)`).
    init(_ data: DenseRatingMatrix, users: Range<Int>? = nil, precision: Precision = .double, ratingOffset: Double? = nil) {
        let users = users ?? 0..<data.userCount
        precondition(users.lowerBound >= 0 && users.upperBound <= data.userCount, "users out of range")
        userCount = users.count
        itemCount = data.itemCount
        self.precision = precision
        let d = data.itemCount
        let offset = ratingOffset ?? Self.ratingOffset(of: data)
        self.ratingOffset = offset

        var squaredNorms = [Double](repeating: 0, count: users.count)
        var observedCounts = [Double](repeating: 0, count: users.count)
        var shiftedSquaredNorms = [Double](repeating: 0, count: users.count)
        var mask = [Double](repeating: 0, count: precision == .double ? users.count * d : 0)
        var maskSingle = [Float](repeating: 0, count: precision == .single ? users.count * d : 0)
        let copiesRatings = precision == .single || offset != 0
        var shiftedDouble = [Double](repeating: 0, count: precision == .double && copiesRatings ? users.count * d : 0)
        var shiftedSingle = [Float](repeating: 0, count: precision == .single ? users.count * d : 0)
        for (local, user) in users.enumerated() {
            var norm = 0.0
            var shiftedNorm = 0.0
            var count = 0.0
            for item in 0..<d {
                let rating = data.values[user * d + item]
                guard rating != 0 else { continue }
                norm += rating * rating
                count += 1
                let shifted = rating - offset
                shiftedNorm += shifted * shifted
                switch precision {
                case .double:
                    mask[local * d + item] = 1
                    if copiesRatings { shiftedDouble[local * d + item] = shifted }
                case .single:
                    maskSingle[local * d + item] = 1
                    shiftedSingle[local * d + item] = Float(shifted)
                }
            }
            squaredNorms[local] = norm
            shiftedSquaredNorms[local] = shiftedNorm
            observedCounts[local] = count
        }
        if precision == .double && !copiesRatings {
            ratingsDouble = data.values
            ratingsStart = users.lowerBound * d
        } else {
            ratingsDouble = shiftedDouble
            ratingsStart = 0
        }
        self.ratingsSingle = shiftedSingle
        self.maskDouble = mask
        self.maskSingle = maskSingle
        self.squaredNorms = squaredNorms
        self.observedCounts = observedCounts
        self.shiftedSquaredNorms = shiftedSquaredNorms
    }

    /// `count` kernels over consecutive, nearly equal ranges of users (at least one user
    /// each), in user order, all shifted by the matrix's c: the shards of one E-step.
    static func shards(of data: DenseRatingMatrix, count: Int, precision: Precision = .double) -> [BLASKernel] {
        let shardCount = max(1, min(count, data.userCount))
        let offset = ratingOffset(of: data)
        return (0..<shardCount).map { shard in
            let start = shard * data.userCount / shardCount
            let end = (shard + 1) * data.userCount / shardCount
            return BLASKernel(data, users: start..<end, precision: precision, ratingOffset: offset)
        }
    }

    /// Bytes of data this kernel holds itself: the mask, and in single precision the
    /// ratings (in double it shares the data's array). Workspaces come on top:
    /// O((n + 2d)·ΣK).
    var dataBytes: Int {
        (maskDouble.count + (ratingsStart == 0 ? ratingsDouble.count : 0)) * MemoryLayout<Double>.stride
            + (maskSingle.count + ratingsSingle.count) * MemoryLayout<Float>.stride
    }

    /// X·B₁ᵀ + M·B₂ᵀ (users × columns) into `products`, user-major.
    @inline(__always)
    fileprivate static func distanceProducts<Scalar: GEMMScalar>(
        ratings: UnsafePointer<Scalar>, mask: UnsafePointer<Scalar>, coefficients: UnsafePointer<Scalar>,
        users: Int, items: Int, columns: Int, outputStride: Int, into products: UnsafeMutablePointer<Scalar>) {
        Scalar.gemm(transposeA: false, transposeB: true, m: users, n: columns, k: items,
                    a: ratings, lda: items, b: coefficients, ldb: 2 * items, beta: 0, c: products, ldc: outputStride)
        Scalar.gemm(transposeA: false, transposeB: true, m: users, n: columns, k: items,
                    a: mask, lda: items, b: coefficients + items, ldb: 2 * items, beta: 1, c: products, ldc: outputStride)
    }

    /// The same products component-major (columns × users): B·Xᵀ instead of X·Bᵀ. OpenBLAS
    /// then packs the block of X and M as the other operand of its GEMM, which suits its
    /// SGEMM kernels and not its DGEMM ones (`mixfill bench` and bench/kernels.md compare
    /// the two), so single precision uses this form and double the one above. Each output
    /// is one dot product over the items either way.
    @inline(__always)
    private static func distanceProductsByComponent<Scalar: GEMMScalar>(
        ratings: UnsafePointer<Scalar>, mask: UnsafePointer<Scalar>, coefficients: UnsafePointer<Scalar>,
        users: Int, items: Int, columns: Int, into products: UnsafeMutablePointer<Scalar>) {
        Scalar.gemm(transposeA: false, transposeB: true, m: columns, n: users, k: items,
                    a: coefficients, lda: 2 * items, b: ratings, ldb: items, beta: 0, c: products, ldc: users)
        Scalar.gemm(transposeA: false, transposeB: true, m: columns, n: users, k: items,
                    a: coefficients + items, lda: 2 * items, b: mask, ldb: items, beta: 1, c: products, ldc: users)
    }

    /// [Xᵀ·P ; Mᵀ·P] (2d × columns) into `sums`, or added to it.
    @inline(__always)
    fileprivate static func statisticProducts<Scalar: GEMMScalar>(
        ratings: UnsafePointer<Scalar>, mask: UnsafePointer<Scalar>, posteriors: UnsafePointer<Scalar>,
        users: Int, items: Int, columns: Int, stride: Int, adding: Bool, into sums: UnsafeMutablePointer<Scalar>) {
        let beta: Scalar = adding ? 1 : 0
        Scalar.gemm(transposeA: true, transposeB: false, m: items, n: columns, k: users,
                    a: ratings, lda: items, b: posteriors, ldb: stride, beta: beta, c: sums, ldc: stride)
        Scalar.gemm(transposeA: true, transposeB: false, m: items, n: columns, k: users,
                    a: mask, lda: items, b: posteriors, ldb: stride, beta: beta, c: sums + items * stride, ldc: stride)
    }

    /// The column ranges of one block's double-precision GEMMs: every stacked column at
    /// once where `StackingProbe` found that exact (one mixture alone always is), one range
    /// per mixture elsewhere.
    private func gemmCalls(_ product: StackingProbe.Product, rows: Int, segmentEnds: [Int]) -> [(Int, Int)] {
        guard let columns = segmentEnds.last, segmentEnds.count > 1 else { return [(0, segmentEnds.last ?? 0)] }
        var widths = [Int]()
        var start = 0
        for end in segmentEnds {
            widths.append(end - start)
            start = end
        }
        let shape = StackingProbe.Shape(product: product, rows: rows, items: itemCount, widths: widths,
                                        blasThreads: BLAS.threadCount)
        let exact: Bool
        if let known = stackingVerdicts[shape] {
            exact = known
        } else {
            exact = StackingProbe.stackedCallIsExact(shape)
            stackingVerdicts[shape] = exact
        }
        if exact { return [(0, columns)] }
        var calls = [(Int, Int)]()
        start = 0
        for end in segmentEnds {
            calls.append((start, end))
            start = end
        }
        return calls
    }

    private func prepareWorkspaces(_ columns: Int) {
        guard columns > columnCapacity else { return }
        columnCapacity = columns
        let width = 2 * itemCount
        switch precision {
        case .double:
            coefficientsDouble = [Double](repeating: 0, count: columns * width)
        case .single:
            coefficientsSingle = [Float](repeating: 0, count: columns * width)
            posteriorsSingle = [Float](repeating: 0, count: userCount * columns)
            productsSingle = [Float](repeating: 0, count: columns * usersPerBlock)
            sumsSingle = [Float](repeating: 0, count: columns * width)
        }
        sumsDouble = [Double](repeating: 0, count: columns * width)
        posteriorsDouble = [Double](repeating: 0, count: userCount * columns)
        let perColumn = [Double](repeating: 0, count: columns)
        columnLogWeights = perColumn
        columnLogNormalisers = perColumn
        columnVariances = perColumn
        columnResponsibilities = perColumn
        columnSquaredNorms = perColumn
        columnObservedCounts = perColumn
    }

    /// Users per block of the E-step: both GEMMs of a block run while its rows of X and M
    /// (2·d values per user) are still in the core's cache, so the data are fetched from
    /// memory once per iteration instead of once per GEMM. 64 double (128 single) rows of a
    /// few thousand items fit in a core's private cache; `mixfill bench` measures the effect.
    var usersPerBlock: Int { precision == .double ? 64 : 128 }

    /// Sets up a batch: B = [−2(μ − c) | (μ − c)²] and the E-step's constants for every
    /// stacked component, mixture after mixture. Returns ΣK and where each mixture's
    /// columns end.
    private func prepareBatch(_ mixtures: [Mixture]) -> (columns: Int, segmentEnds: [Int]) {
        let columns = mixtures.reduce(0) { $0 + $1.componentCount }
        prepareWorkspaces(columns)
        let d = itemCount
        let width = 2 * d
        let offset = ratingOffset
        var segmentEnds = [Int]()
        segmentEnds.reserveCapacity(mixtures.count)
        var column = 0
        for mixture in mixtures {
            precondition(mixture.itemCount == itemCount, "the mixture has \(mixture.itemCount) items, the data \(itemCount)")
            let terms = ComponentTerms(mixture)
            for j in 0..<mixture.componentCount {
                columnLogWeights[column] = terms.logWeights[j]
                columnLogNormalisers[column] = terms.logNormalisers[j]
                columnVariances[column] = terms.variances[j]
                mixture.means.withUnsafeBufferPointer { means in
                    let mean = UnsafeBufferPointer(rebasing: means[(j * d)..<((j + 1) * d)])
                    switch precision {
                    case .double:
                        coefficientsDouble.withUnsafeMutableBufferPointer { b in
                            for i in 0..<d {
                                let shifted = mean[i] - offset
                                b[column * width + i] = -2 * shifted
                                b[column * width + d + i] = shifted * shifted
                            }
                        }
                    case .single:
                        coefficientsSingle.withUnsafeMutableBufferPointer { b in
                            for i in 0..<d {
                                let shifted = mean[i] - offset
                                b[column * width + i] = Float(-2 * shifted)
                                b[column * width + d + i] = Float(shifted * shifted)
                            }
                        }
                    }
                }
                column += 1
            }
            segmentEnds.append(column)
        }
        return (columns, segmentEnds)
    }

    /// The E-step for the users in `block`: their rows of `posteriorsDouble` (and, in single
    /// precision, `posteriorsSingle`) become p(j|u) for every stacked component, and each
    /// mixture's log-likelihood over them is added to `logLikelihoods`, user by user.
    private func computePosteriors(_ block: Range<Int>, columns: Int, segmentEnds: [Int],
                                   logLikelihoods: inout [Double]) {
        let d = itemCount
        let rows = block.count
        // X·B₁ᵀ + M·B₂ᵀ: every user's squared distance to every stacked mean, minus ‖x_u − c‖².
        switch precision {
        case .double:
            let calls = gemmCalls(.distances, rows: rows, segmentEnds: segmentEnds)
            ratingsDouble.withUnsafeBufferPointer { x in
                maskDouble.withUnsafeBufferPointer { m in
                    coefficientsDouble.withUnsafeBufferPointer { b in
                        posteriorsDouble.withUnsafeMutableBufferPointer { g in
                            guard let x = x.baseAddress, let m = m.baseAddress, let b = b.baseAddress,
                                  let g = g.baseAddress else { return }
                            // One call over every stacked column, or one per mixture of the shape
                            // its solo run has (see the type's note on batching).
                            for (start, end) in calls {
                                Self.distanceProducts(ratings: x + ratingsStart + block.lowerBound * d,
                                                      mask: m + block.lowerBound * d, coefficients: b + start * 2 * d,
                                                      users: rows, items: d, columns: end - start, outputStride: columns,
                                                      into: g + block.lowerBound * columns + start)
                            }
                        }
                    }
                }
            }
        case .single:
            ratingsSingle.withUnsafeBufferPointer { x in
                maskSingle.withUnsafeBufferPointer { m in
                    coefficientsSingle.withUnsafeBufferPointer { b in
                        productsSingle.withUnsafeMutableBufferPointer { g in
                            guard let x = x.baseAddress, let m = m.baseAddress, let b = b.baseAddress,
                                  let g = g.baseAddress else { return }
                            Self.distanceProductsByComponent(ratings: x + block.lowerBound * d,
                                                             mask: m + block.lowerBound * d, coefficients: b,
                                                             users: rows, items: d, columns: columns, into: g)
                        }
                    }
                }
            }
            // Widened to Double into the users' rows (user-major) of `posteriorsDouble`.
            productsSingle.withUnsafeBufferPointer { products in
                posteriorsDouble.withUnsafeMutableBufferPointer { double in
                    for (row, user) in block.enumerated() {
                        for column in 0..<columns {
                            double[user * columns + column] = Double(products[column * rows + row])
                        }
                    }
                }
            }
        }

        // f(u, j) as ComponentTerms.logDensity computes it (same operations, same order, so
        // the same bits), then each mixture's logsumexp over its own components.
        posteriorsDouble.withUnsafeMutableBufferPointer { g in
            shiftedSquaredNorms.withUnsafeBufferPointer { norms in
                observedCounts.withUnsafeBufferPointer { counts in
                    columnLogWeights.withUnsafeBufferPointer { logWeights in
                        columnLogNormalisers.withUnsafeBufferPointer { logNormalisers in
                            columnVariances.withUnsafeBufferPointer { variances in
                                for user in block {
                                    let row = UnsafeMutableBufferPointer(rebasing: g[(user * columns)..<((user + 1) * columns)])
                                    let norm = norms[user]
                                    let count = counts[user]
                                    Self.logDensities(row, norm: norm, observedCount: count, logWeights: logWeights,
                                                      logNormalisers: logNormalisers, variances: variances)
                                    var start = 0
                                    for index in segmentEnds.indices {
                                        let end = segmentEnds[index]
                                        logLikelihoods[index] += normaliseLogDensitiesSkippingUnderflow(UnsafeMutableBufferPointer(rebasing: row[start..<end]))
                                        start = end
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        if precision == .single {
            posteriorsDouble.withUnsafeBufferPointer { double in
                posteriorsSingle.withUnsafeMutableBufferPointer { single in
                    for index in (block.lowerBound * columns)..<(block.upperBound * columns) {
                        single[index] = Float(double[index])
                    }
                }
            }
        }
    }

    /// Adds the users of `block` to the per-column sums n̂_j, Σ_u p‖x_u‖², Σ_u p|C_u|, user
    /// by user, and to [Nᵀ ; Dᵀ] = [Xᵀ·P ; Mᵀ·P] (into `sumsDouble`, overwriting it for the
    /// first block; in single precision through `sumsSingle`, flushed into Double every
    /// `singlePrecisionUserBlock` users and at the end).
    private func accumulateSums(_ block: Range<Int>, columns: Int, segmentEnds: [Int]) {
        let d = itemCount
        posteriorsDouble.withUnsafeBufferPointer { p in
            squaredNorms.withUnsafeBufferPointer { norms in
                observedCounts.withUnsafeBufferPointer { counts in
                    columnResponsibilities.withUnsafeMutableBufferPointer { responsibilities in
                        columnSquaredNorms.withUnsafeMutableBufferPointer { weightedNorms in
                            columnObservedCounts.withUnsafeMutableBufferPointer { weightedCounts in
                                for user in block {
                                    let norm = norms[user]
                                    let count = counts[user]
                                    Self.addPosteriors(UnsafeBufferPointer(rebasing: p[(user * columns)..<((user + 1) * columns)]),
                                                       norm: norm, observedCount: count, responsibilities: responsibilities,
                                                       weightedNorms: weightedNorms, weightedCounts: weightedCounts)
                                }
                            }
                        }
                    }
                }
            }
        }
        switch precision {
        case .double:
            let calls = gemmCalls(.statistics, rows: block.count, segmentEnds: segmentEnds)
            ratingsDouble.withUnsafeBufferPointer { x in
                maskDouble.withUnsafeBufferPointer { m in
                    posteriorsDouble.withUnsafeBufferPointer { p in
                        sumsDouble.withUnsafeMutableBufferPointer { s in
                            guard let x = x.baseAddress, let m = m.baseAddress, let p = p.baseAddress,
                                  let s = s.baseAddress else { return }
                            for (start, end) in calls {
                                Self.statisticProducts(ratings: x + ratingsStart + block.lowerBound * d,
                                                       mask: m + block.lowerBound * d,
                                                       posteriors: p + block.lowerBound * columns + start,
                                                       users: block.count, items: d, columns: end - start, stride: columns,
                                                       adding: block.lowerBound > 0, into: s + start)
                            }
                        }
                    }
                }
            }
        case .single:
            let flushEvery = Self.singlePrecisionUserBlock
            let addingToPartial = block.lowerBound % flushEvery != 0
            ratingsSingle.withUnsafeBufferPointer { x in
                maskSingle.withUnsafeBufferPointer { m in
                    posteriorsSingle.withUnsafeBufferPointer { p in
                        sumsSingle.withUnsafeMutableBufferPointer { s in
                            guard let x = x.baseAddress, let m = m.baseAddress, let p = p.baseAddress,
                                  let s = s.baseAddress else { return }
                            Self.statisticProducts(ratings: x + block.lowerBound * d, mask: m + block.lowerBound * d,
                                                   posteriors: p + block.lowerBound * columns,
                                                   users: block.count, items: d, columns: columns, stride: columns,
                                                   adding: addingToPartial, into: s)
                        }
                    }
                }
            }
            if block.upperBound % flushEvery == 0 || block.upperBound == userCount {
                let first = block.lowerBound < flushEvery
                sumsSingle.withUnsafeBufferPointer { partial in
                    sumsDouble.withUnsafeMutableBufferPointer { total in
                        for index in 0..<(2 * d * columns) {
                            total[index] = first ? Double(partial[index]) : total[index] + Double(partial[index])
                        }
                    }
                }
            }
        }
    }

    /// One user's f(u, ·) over all stacked components, in place of the row's squared
    /// distances minus ‖x_u − c‖²: f = log p − ½|C_u|·log(2πσ²) − ½(‖x_u − c‖² + row)/σ²,
    /// four components at a time. Each lane does the scalar formula's operations in its
    /// order (ComponentTerms.logDensity), so the bits are the same.
    @inline(__always)
    private static func logDensities(_ row: UnsafeMutableBufferPointer<Double>, norm: Double, observedCount: Double,
                                     logWeights: UnsafeBufferPointer<Double>, logNormalisers: UnsafeBufferPointer<Double>,
                                     variances: UnsafeBufferPointer<Double>) {
        guard let g = row.baseAddress, let w = logWeights.baseAddress, let l = logNormalisers.baseAddress,
              let v = variances.baseAddress else { return }
        let columns = row.count
        let halfCount = SIMD4<Double>(repeating: 0.5 * observedCount)
        let half = SIMD4<Double>(repeating: 0.5)
        let norms = SIMD4<Double>(repeating: norm)
        var c = 0
        while c + 4 <= columns {
            let products = UnsafeRawPointer(g + c).loadUnaligned(as: SIMD4<Double>.self)
            let weights = UnsafeRawPointer(w + c).loadUnaligned(as: SIMD4<Double>.self)
            let normalisers = UnsafeRawPointer(l + c).loadUnaligned(as: SIMD4<Double>.self)
            let spreads = UnsafeRawPointer(v + c).loadUnaligned(as: SIMD4<Double>.self)
            let distances = (norms + products).replacing(with: 0, where: norms + products .< 0)
            let densities = (weights - halfCount * normalisers) - half * distances / spreads
            UnsafeMutableRawPointer(g + c).storeBytes(of: densities, as: SIMD4<Double>.self)
            c += 4
        }
        while c < columns {
            let distance = norm + g[c]
            g[c] = w[c] - 0.5 * observedCount * l[c] - 0.5 * (distance < 0 ? 0 : distance) / v[c]
            c += 1
        }
    }

    /// Adds one user's posteriors to the per-component sums n̂_j += p, Σ p‖x‖² += p·‖x_u‖²,
    /// Σ p|C| += p·|C_u|, four components at a time (lane by lane the scalar operations).
    @inline(__always)
    private static func addPosteriors(_ posteriors: UnsafeBufferPointer<Double>, norm: Double, observedCount: Double,
                                      responsibilities: UnsafeMutableBufferPointer<Double>,
                                      weightedNorms: UnsafeMutableBufferPointer<Double>,
                                      weightedCounts: UnsafeMutableBufferPointer<Double>) {
        guard let p = posteriors.baseAddress, let r = responsibilities.baseAddress, let n = weightedNorms.baseAddress,
              let k = weightedCounts.baseAddress else { return }
        let columns = posteriors.count
        let norms = SIMD4<Double>(repeating: norm)
        let counts = SIMD4<Double>(repeating: observedCount)
        var c = 0
        while c + 4 <= columns {
            let posterior = UnsafeRawPointer(p + c).loadUnaligned(as: SIMD4<Double>.self)
            let sums = UnsafeRawPointer(r + c).loadUnaligned(as: SIMD4<Double>.self) + posterior
            let normSums = UnsafeRawPointer(n + c).loadUnaligned(as: SIMD4<Double>.self) + posterior * norms
            let countSums = UnsafeRawPointer(k + c).loadUnaligned(as: SIMD4<Double>.self) + posterior * counts
            UnsafeMutableRawPointer(r + c).storeBytes(of: sums, as: SIMD4<Double>.self)
            UnsafeMutableRawPointer(n + c).storeBytes(of: normSums, as: SIMD4<Double>.self)
            UnsafeMutableRawPointer(k + c).storeBytes(of: countSums, as: SIMD4<Double>.self)
            c += 4
        }
        while c < columns {
            r[c] += p[c]
            n[c] += p[c] * norm
            k[c] += p[c] * observedCount
            c += 1
        }
    }

    /// The blocks of users the E-step walks through, in order.
    private var userBlocks: [Range<Int>] {
        let size = usersPerBlock
        return stride(from: 0, to: userCount, by: size).map { $0..<min($0 + size, userCount) }
    }

    func computeStatistics(_ mixtures: [Mixture], layout: BatchLayout, into buffer: UnsafeMutableBufferPointer<Double>) {
        precondition(mixtures.count == layout.modelCount, "one record per mixture")
        let (columns, segmentEnds) = prepareBatch(mixtures)
        for c in 0..<columns {
            columnResponsibilities[c] = 0
            columnSquaredNorms[c] = 0
            columnObservedCounts[c] = 0
        }
        var logLikelihoods = [Double](repeating: 0, count: mixtures.count)
        for block in userBlocks {
            computePosteriors(block, columns: columns, segmentEnds: segmentEnds, logLikelihoods: &logLikelihoods)
            accumulateSums(block, columns: columns, segmentEnds: segmentEnds)
        }
        let d = itemCount
        let offset = ratingOffset
        // Into each mixture's record, every value as 0 + x; N_ji = N'_ji + c·D_ji undoes the shift.
        var start = 0
        for index in mixtures.indices {
            let componentCount = mixtures[index].componentCount
            let fields = CourseRecord(mixtures[index])
            let record = UnsafeMutableBufferPointer(rebasing: buffer[layout.record(index)])
            precondition(record.count == fields.length, "a course record for the mixture's shape")
            record[CourseRecord.logLikelihood] = 0 + logLikelihoods[index]
            record[CourseRecord.userCount] = 0 + Double(userCount)
            for j in 0..<componentCount {
                record[CourseRecord.responsibilities + j] = 0 + columnResponsibilities[start + j]
                record[fields.weightedSquaredNorms + j] = 0 + columnSquaredNorms[start + j]
                record[fields.weightedCounts + j] = 0 + columnObservedCounts[start + j]
            }
            // Item by item, so the rows of [Nᵀ ; Dᵀ] are read in order (each mixture's K
            // columns of a row are adjacent) and K outputs are written per item.
            sumsDouble.withUnsafeBufferPointer { s in
                for i in 0..<d {
                    let sumsRow = i * columns + start
                    let weightsRow = (d + i) * columns + start
                    for j in 0..<componentCount {
                        let observedWeight = s[weightsRow + j]
                        let shiftedSum = s[sumsRow + j]
                        let sum = offset == 0 ? shiftedSum : shiftedSum + offset * observedWeight
                        record[fields.ratingSums + j * d + i] = 0 + sum
                        record[fields.observedWeights + j * d + i] = 0 + observedWeight
                    }
                }
            }
            start += componentCount
        }
    }

    func userStates(_ mixture: Mixture) -> (states: [Double], logLikelihood: Double) {
        let (columns, segmentEnds) = prepareBatch([mixture])
        var logLikelihoods = [0.0]
        for block in userBlocks {
            computePosteriors(block, columns: columns, segmentEnds: segmentEnds, logLikelihoods: &logLikelihoods)
        }
        return (Array(posteriorsDouble[0..<(userCount * columns)]), logLikelihoods[0])
    }
}

/// Whether one double-precision GEMM over a batch's stacked columns gives every restart's
/// columns exactly the bits that restart's own call of the solo shape gives (see
/// `BLASKernel`'s note on batching).
///
/// A BLAS picks its algorithm from the shapes, leading dimensions aside, never from the
/// values, so running both forms once on pseudo-random operands of exactly the shapes in
/// question (every output compared) tells what they do on any data: where the two sum an
/// output in different orders, random operands round differently in practically every
/// such output. The operands are fixed (SplitMix64 from a constant seed), so the verdict
/// is the same on every run of the same BLAS.
enum StackingProbe {
    enum Product: Hashable {
        /// X·B₁ᵀ + M·B₂ᵀ over a block of users (`distanceProducts`).
        case distances
        /// Xᵀ·P and Mᵀ·P over a block of users, first written, then added to (`statisticProducts`).
        case statistics
    }

    struct Shape: Hashable {
        let product: Product
        let rows: Int
        let items: Int
        let widths: [Int]
        let blasThreads: Int
    }

    static func stackedCallIsExact(_ shape: Shape) -> Bool {
        let rows = shape.rows
        let items = shape.items
        let columns = shape.widths.reduce(0, +)
        var random = SplitMix64(seed: 0x5EED)
        func values(_ count: Int) -> [Double] {
            (0..<count).map { _ in 4 * random.nextUniform() - 2 }
        }
        let ratings = values(rows * items)
        let mask = values(rows * items)
        // The stacked call's output (outputRows × columns), and a restart's own call's
        // (outputRows × width) for the restart whose columns start at `start`.
        let outputRows: Int
        let stacked: [Double]
        let solo: (_ start: Int, _ width: Int) -> [Double]
        switch shape.product {
        case .distances:
            let coefficients = values(columns * 2 * items)
            outputRows = rows
            stacked = distances(ratings, mask, coefficients, firstColumn: 0, rows: rows, items: items, columns: columns)
            solo = { start, width in
                distances(ratings, mask, coefficients, firstColumn: start, rows: rows, items: items, columns: width)
            }
        case .statistics:
            let posteriors = values(rows * columns)
            outputRows = 2 * items
            stacked = statistics(ratings, mask, posteriors, rows: rows, items: items, columns: columns)
            solo = { start, width in
                var own = [Double]()
                own.reserveCapacity(rows * width)
                for row in 0..<rows {
                    own.append(contentsOf: posteriors[(row * columns + start)..<(row * columns + start + width)])
                }
                return statistics(ratings, mask, own, rows: rows, items: items, columns: width)
            }
        }
        var start = 0
        for width in shape.widths {
            let own = solo(start, width)
            for row in 0..<outputRows {
                for j in 0..<width where own[row * width + j].bitPattern != stacked[row * columns + start + j].bitPattern {
                    return false
                }
            }
            start += width
        }
        return true
    }

    /// X·B₁ᵀ + M·B₂ᵀ for the `columns` rows of B from `firstColumn` (`distanceProducts`).
    private static func distances(_ ratings: [Double], _ mask: [Double], _ coefficients: [Double], firstColumn: Int,
                                  rows: Int, items: Int, columns: Int) -> [Double] {
        var products = [Double](repeating: 0, count: rows * columns)
        ratings.withUnsafeBufferPointer { x in
            mask.withUnsafeBufferPointer { m in
                coefficients.withUnsafeBufferPointer { b in
                    products.withUnsafeMutableBufferPointer { g in
                        guard let x = x.baseAddress, let m = m.baseAddress, let b = b.baseAddress,
                              let g = g.baseAddress else { return }
                        BLASKernel.distanceProducts(ratings: x, mask: m, coefficients: b + firstColumn * 2 * items, users: rows,
                                                    items: items, columns: columns, outputStride: columns, into: g)
                    }
                }
            }
        }
        return products
    }

    /// [Xᵀ·P ; Mᵀ·P] written, then added to once more (both β of `statisticProducts`).
    private static func statistics(_ ratings: [Double], _ mask: [Double], _ posteriors: [Double],
                                   rows: Int, items: Int, columns: Int) -> [Double] {
        var sums = [Double](repeating: 0, count: 2 * items * columns)
        ratings.withUnsafeBufferPointer { x in
            mask.withUnsafeBufferPointer { m in
                posteriors.withUnsafeBufferPointer { p in
                    sums.withUnsafeMutableBufferPointer { s in
                        guard let x = x.baseAddress, let m = m.baseAddress, let p = p.baseAddress,
                              let s = s.baseAddress else { return }
                        for adding in [false, true] {
                            BLASKernel.statisticProducts(ratings: x, mask: m, posteriors: p, users: rows, items: items,
                                                         columns: columns, stride: columns, adding: adding, into: s)
                        }
                    }
                }
            }
        }
        return sums
    }
}
