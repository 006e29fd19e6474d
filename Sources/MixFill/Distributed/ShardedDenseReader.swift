/// A dense matrix file (one user per line) read by the ranks of a group, each parsing only
/// its block of rows, so that no rank holds more than its block's text and values.
///
/// 1. The file is cut at line boundaries into one part per rank, as a record file is
///    (`ShardedRecordReader.part`). Each rank walks its part once without parsing numbers:
///    it counts the lines and notes, for every row (a line with a value before any `#`),
///    where it starts and on which line, and the width of its first row.
/// 2. Those counts go to every rank (a fold in rank order, each rank filling its slot), so
///    every rank knows the number of rows R, the first row's width and line, and its block
///    of users `ProcessGroup.userRange(R)`. The rank whose part holds the first row of a
///    block says where that row starts (a second fold), so each block's bytes are known.
/// 3. Each rank parses the bytes of its block with the single process's parser
///    (`DenseMatrixReader.parseRows`), continuing the lines before it: the same line
///    numbers, the same width check against the first row, the same messages. Of the
///    ranks that fail, the lowest reports its error (`firstFailureInRankOrder`): the
///    first bad line of the file, as a single process reports it.
/// 4. What a single process keeps of the whole matrix (fingerprint, range, mean, ratings per
///    item) and its warnings (users and items without a rating) are folded through the
///    ranks in user order.
enum ShardedDenseReader {
    /// Where a row of the file starts: its first byte and its line number (1-based).
    struct RowStart: Equatable {
        var offset: Int
        var line: Int
    }

    /// Step 1's walk over one part.
    struct PartSummary: Equatable {
        /// Lines that start in the part (the file's last line counts without a newline).
        var lines = 0
        /// Every row of the part, in file order (line numbers counted within the part).
        var rows: [RowStart] = []
        /// The number of values on the part's first row (0 with no row).
        var firstWidth = 0
    }

    /// Step 1 for the bytes `range` of the file at `path`: a byte-order mark at the file's
    /// start is skipped as the parser skips it, and a line is a row when
    /// `DenseMatrixReader.nextToken` finds a value on it.
    static func summarize(path: String, bytes range: Range<Int>, blockSize: Int = LineBlocks.blockSize) throws(MixFillError) -> PartSummary {
        var summary = PartSummary()
        var blockStart = range.lowerBound
        try LineBlocks.forEachBlock(path: path, bytes: range, blockSize: blockSize) { block in
            var position = blockStart == 0 && FileBytes.startsWithByteOrderMark(block) ? 3 : 0
            let count = block.count
            while position < count {
                let lineStart = position
                var lineEnd = position
                while lineEnd < count, block[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
                summary.lines += 1
                if DenseMatrixReader.nextToken(block, from: lineStart, lineEnd: lineEnd) != nil {
                    if summary.rows.isEmpty {
                        summary.firstWidth = DenseMatrixReader.valueCount(block, from: lineStart, lineEnd: lineEnd)
                    }
                    // A row on the file's first line starts at byte 0, before the byte-order mark.
                    let offset = blockStart == 0 && summary.lines == 1 ? 0 : blockStart + lineStart
                    summary.rows.append(RowStart(offset: offset, line: summary.lines))
                }
                position = lineEnd + 1
            }
            blockStart += count
        }
        return summary
    }

    /// This rank's block of rows of the dense file at `path`: the rows, which global users
    /// they are, and the whole file's number of rows.
    static func readRows(path: String, rules: RatingRules, formatDetected: Bool,
                         group: any ProcessGroup) throws(MixFillError) -> (matrix: DenseRatingMatrix, users: Range<Int>, userCount: Int) {
        let name = StandardInput.displayName(path)
        let fileSize = try FileBytes.size(of: path)
        let part = try ShardedRecordReader.part(path: path, fileSize: fileSize, rank: group.rank, ranks: group.size)
        let own = try summarize(path: path, bytes: part)

        // Step 2: [lines, rows, first row's line within the part, its width] of every part.
        let ranks = group.size
        let parts = try group.foldInRankOrder([Double](repeating: 0, count: 4 * ranks)) { table in
            let slot = 4 * group.rank
            table[slot] = Double(own.lines)
            table[slot + 1] = Double(own.rows.count)
            table[slot + 2] = Double(own.rows.first?.line ?? 0)
            table[slot + 3] = Double(own.firstWidth)
        }
        var linesBefore = [Int](repeating: 0, count: ranks + 1)
        var rowsBefore = [Int](repeating: 0, count: ranks + 1)
        var firstRow: (width: Int, line: Int)?
        for rank in 0..<ranks {
            let rows = Int(parts[4 * rank + 1])
            if firstRow == nil, rows > 0 {
                firstRow = (Int(parts[4 * rank + 3]), linesBefore[rank] + Int(parts[4 * rank + 2]))
            }
            linesBefore[rank + 1] = linesBefore[rank] + Int(parts[4 * rank])
            rowsBefore[rank + 1] = rowsBefore[rank] + rows
        }
        let rowCount = rowsBefore[ranks]
        guard let firstRow else { throw DenseMatrixReader.noRows(name: name, formatDetected: formatDetected) }
        try DataShard.requireUsers(rowCount, group: group)

        // Where each rank's block starts ([offset, line] per rank), said by the rank whose
        // part holds the block's first row; the last block ends at the file's end.
        let starts = try group.foldInRankOrder([Double](repeating: 0, count: 2 * ranks)) { table in
            let mine = rowsBefore[group.rank]..<rowsBefore[group.rank + 1]
            for block in 0..<ranks {
                let first = SingleProcess.userRange(userCount: rowCount, rank: block, size: ranks).lowerBound
                guard mine.contains(first) else { continue }
                let row = own.rows[first - mine.lowerBound]
                table[2 * block] = Double(row.offset)
                table[2 * block + 1] = Double(linesBefore[group.rank] + row.line)
            }
        }
        let users = group.userRange(userCount: rowCount)
        let rank = group.rank
        let begin = Int(starts[2 * rank])
        let end = rank + 1 < ranks ? Int(starts[2 * rank + 2]) : fileSize
        var bytes = [UInt8]()
        bytes.reserveCapacity(end - begin)
        try LineBlocks.forEachBlock(path: path, bytes: begin..<end) { block in bytes.append(contentsOf: block) }

        // Step 3.
        let start = DenseMatrixReader.RowsStart(linesBefore: Int(starts[2 * rank + 1]) - 1,
                                                firstRow: users.lowerBound > 0 ? firstRow : nil,
                                                atFileStart: begin == 0)
        var parsed: (values: [Double], userCount: Int, itemCount: Int)?
        var failure: MixFillError?
        do {
            parsed = try DenseMatrixReader.parseRows(bytes, name: name, rules: rules, formatDetected: formatDetected, from: start)
        } catch {
            failure = error
        }
        bytes = []
        try group.firstFailureInRankOrder(failure)
        guard let rows = parsed, rows.userCount == users.count else {
            throw .badFile(file: name, message: "changed while it was read (rank \(rank) found \(parsed?.userCount ?? 0) of its \(users.count) rows); read a file that stays as it is")
        }
        return (DenseRatingMatrix(userCount: users.count, itemCount: firstRow.width, values: rows.values), users, rowCount)
    }
}

extension DataShard {
    /// Rank `group.rank`'s block of the dense matrix file at `path`, each rank parsing only
    /// its rows (`ShardedDenseReader`); the whole matrix's record as a single process keeps
    /// it (`TrainingDataRecord(describing:path:)`) and its warnings (`DataWarnings.check`),
    /// folded through the ranks. Refuses a matrix without a rating as
    /// `RatingInput.requireRatings` does.
    package static func readDense(path: String, recordedPath: String?, rules: RatingRules, formatDetected: Bool,
                                  group: any ProcessGroup) throws(MixFillError) -> (shard: DataShard, training: TrainingDataRecord, warnings: [String]) {
        let (matrix, users, rowCount) = try ShardedDenseReader.readRows(path: path, rules: rules, formatDetected: formatDetected, group: group)
        let width = matrix.itemCount
        let name = StandardInput.displayName(path)

        // [ratings, users without one, the first `DataWarnings.shown` of them], this rank's
        // counted before the fold adds them up in rank order.
        let shown = DataWarnings.shown
        var ratings = 0
        var emptyUsers = [Int]()
        for local in 0..<matrix.userCount {
            var rated = 0
            for item in 0..<width where matrix.values[local * width + item] != 0 { rated += 1 }
            ratings += rated
            if rated == 0 { emptyUsers.append(users.lowerBound + local) }
        }
        let counts = try group.foldInRankOrder([0, 0] + [Double](repeating: -1, count: shown)) { state in
            state[0] += Double(ratings)
            for user in emptyUsers {
                let empty = Int(state[1])
                if empty < shown { state[2 + empty] = Double(user) }
                state[1] += 1
            }
        }
        let observedCount = Int(counts[0])
        guard observedCount > 0 else { throw RatingInput.noRatings(name: name) }
        let training = try foldTrainingRecord(format: .dense, recordedPath: recordedPath, userIds: .identity(rowCount),
                                              itemIds: .identity(width), observedCount: observedCount, group: group) { visit in
            for local in 0..<matrix.userCount {
                let base = local * width
                for item in 0..<width where matrix.values[base + item] != 0 {
                    visit(users.lowerBound + local, item, matrix.values[base + item])
                }
            }
        }
        let emptyItems = training.itemRatingCounts.indices.filter { training.itemRatingCounts[$0] == 0 }
        let warnings = DataWarnings.warnings(name: name, emptyUsers: (Int(counts[1]), counts[2..<(2 + shown)].filter { $0 >= 0 }.map { Int($0) }),
                                             emptyItems: (emptyItems.count, Array(emptyItems.prefix(shown))))
        let shard = DataShard(input: RatingInput(storage: .dense(matrix), format: .dense), users: users,
                              userCount: rowCount, itemCount: width, observedCount: observedCount)
        return (shard, training, warnings)
    }
}
