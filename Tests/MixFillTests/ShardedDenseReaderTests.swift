import Foundation
import Testing
@testable import MixFill

/// Dense matrix files read by the ranks of a group, each parsing only its block of rows
/// (`DataShard.readDense`): every rank must end with exactly its rows of the matrix a
/// single process reads, the record a single process keeps of it, and its warnings; a bad
/// row is refused by the rank reading it, in the single process's words.
@Suite struct ShardedDenseReaderTests {
    /// A 37 × 11 matrix with half-star ratings, users 4 and 20 and item 7 without a rating.
    static func rows() -> [[Double]] {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        return (0..<37).map { user in
            (0..<11).map { item in
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                let draw = Int(state >> 33)
                if user == 4 || user == 20 || item == 7 || draw % 3 == 0 { return 0 }
                return Double(1 + draw % 9) / 2
            }
        }
    }

    /// Reads `text` (written as `name`) with 1–5 thread ranks and compares each rank's
    /// block, record and warnings with the single process's read of the whole file.
    static func checkSharded(_ text: String, named name: String) throws {
        let folder = try Fixtures.scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = try Fixtures.write(text, named: name, in: folder)
        let whole = try #require(try RatingInput.load(path: path, format: .dense).denseMatrix)
        #expect(whole.values == Self.rows().flatMap { $0 })
        let expected = try #require(TrainingDataRecord(describing: whole, path: path))
        let warnings = DataWarnings.check(whole, name: path)
        #expect(warnings.count == 2)
        for size in 1...5 {
            let reads = try DistributedFitTests.onRanks(size) { group throws(MixFillError) in
                try DataShard.readDense(path: path, recordedPath: path, rules: .standard, formatDetected: false, group: group)
            }
            #expect(reads.count == size)
            for (rank, read) in reads.enumerated() {
                let users = ShardedRecordReaderTests.expectBlock(read.shard, of: whole, rank: rank, size: size)
                #expect(read.shard.input.format == .dense)
                let block = try #require(read.shard.input.denseMatrix)
                #expect(block.userCount == users.count && block.itemCount == whole.itemCount)
                #expect(block.values.map(\.bitPattern)
                    == whole.values[(users.lowerBound * whole.itemCount)..<(users.upperBound * whole.itemCount)].map(\.bitPattern))
                #expect(read.training == expected, "\(name), \(size) ranks, rank \(rank)")
                #expect(read.warnings == warnings)
            }
        }
    }

    /// The matrix as text, row `user` on its own line, with what `transform` adds.
    static func text(_ line: (_ user: Int, _ row: String) -> String) -> String {
        Self.rows().enumerated().map { user, row in
            line(user, row.map { $0 == 0 ? "0" : String($0) }.joined(separator: " "))
        }.joined()
    }

    @Test func commentsBlankLinesCRLFAndNoFinalNewline() throws {
        var text = "# users × items\n\n"
        text += Self.text { user, row in
            switch user % 5 {
            case 0: return row + "  # user \(user)\n"
            case 1: return "\t" + row + "\r\n"
            case 2: return row + "\n\n# between rows\n   \n"
            default: return row + "\n"
            }
        }
        text.removeLast()
        try Self.checkSharded(text, named: "matrix.txt")
    }

    @Test func byteOrderMarkBeforeTheFirstRow() throws {
        try Self.checkSharded("\u{FEFF}" + Self.text { $1 + "\n" }, named: "bom.txt")
    }

    /// The errors of `text` read by 2 and 3 ranks, and the single process's.
    static func failures(_ text: String, sizes: ClosedRange<Int> = 2...3) throws -> (single: String, ranks: [Int: [String]]) {
        let folder = try Fixtures.scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = try Fixtures.write(text, named: "bad.txt", in: folder)
        var single = ""
        do {
            let input = try RatingInput.load(path: path, format: .dense)
            try input.requireRatings(name: path)
        } catch {
            single = error.description
        }
        var ranks = [Int: [String]]()
        for size in sizes {
            ranks[size] = ShardedRecordReaderTests.failures(size) { group throws(MixFillError) in
                _ = try DataShard.readDense(path: path, recordedPath: path, rules: .standard, formatDetected: false, group: group)
            }
        }
        return (single, ranks)
    }

    /// A value that is no number and a short row, both late in the file after comment
    /// lines: refused by the last rank alone, at the single process's line and column,
    /// the short row's message naming the first row's line and width.
    @Test func aBadRowIsReportedAtItsLineByTheRankReadingIt() throws {
        for bad in ["4 x 3", "4"] {
            let text = "# comment\n# comment\n" + Self.text { user, row in user == 33 ? bad + "\n" : row + "\n" }
            let (single, ranks) = try Self.failures(text)
            #expect(single.contains("bad.txt:36:"), "\(single)")
            if bad == "4" { #expect(single.contains("line 3 has 11")) }
            for (size, failures) in ranks {
                #expect(failures == ["rank \(size - 1): \(single)"])
            }
        }
    }

    /// No row, no rating, fewer rows than ranks: every rank refuses, in the single
    /// process's words (or the distributed read's own for too many ranks).
    @Test func wholeFileRefusalsComeFromEveryRank() throws {
        for text in ["# only a comment\n\n", "0 0 0\n0 0 0\n0 0 0\n"] {
            let (single, ranks) = try Self.failures(text)
            #expect(single.contains("bad.txt"))
            for (size, failures) in ranks {
                #expect(failures == (0..<size).map { "rank \($0): \(single)" })
            }
        }
        let (_, ranks) = try Self.failures("1 2\n3 4\n", sizes: 3...3)
        #expect(ranks[3] == (0..<3).map { "rank \($0): mpirun -np: 3 ranks for 2 users; every rank needs at least one user, so run at most 2 ranks" })
    }
}

extension ShardedDenseReaderTests {
    /// Random small matrices with random comments, blank lines, CRLF ends, a byte-order mark
    /// and up to two bad rows (a value that is no number, a row too short or too long,
    /// never the first row): read by 1–4 thread ranks, each rank must hold the single
    /// process's rows, or exactly the rank owning the first bad row must refuse it in the
    /// single process's words. Parts of these files are often empty or hold no row; the
    /// first pass sees the same rows in blocks of a few bytes as in one block.
    @Test func randomFilesReadAsOneProcessReadsThem() throws {
        var state: UInt64 = 0x0123_4567_89AB_CDEF
        func draw(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(state >> 33) % bound
        }
        let folder = try Fixtures.scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var readCases = 0
        var refusedCases = 0
        for trial in 0..<60 {
            let rowCount = 4 + draw(9)
            let width = 1 + draw(5)
            let badRows: Set<Int> = trial % 3 != 0 ? [] : trial % 2 == 0 ? [1 + draw(rowCount - 1)]
                : [1 + draw(rowCount / 2), rowCount / 2 + 1 + draw(rowCount - rowCount / 2 - 1)]
            var text = draw(4) == 0 ? "\u{FEFF}" : ""
            for row in 0..<rowCount {
                for _ in 0..<draw(3) { text += ["\n", "# note\n", "  \t\n", "\r\n"][draw(4)] }
                var values = (0..<width).map { _ in draw(3) == 0 ? "0" : String(Double(1 + draw(9)) / 2) }
                if badRows.contains(row) {
                    switch draw(3) {
                    case 0: values[draw(width)] = "x"
                    case 1: values.append("3")
                    default: if width > 1 { values.removeLast() } else { values[0] = "-1" }
                    }
                }
                text += values.joined(separator: draw(2) == 0 ? " " : "\t") + (draw(5) == 0 ? " # end" : "")
                text += row + 1 == rowCount && draw(2) == 0 ? "" : (draw(3) == 0 ? "\r\n" : "\n")
            }
            let path = try Fixtures.write(text, named: "random\(trial).txt", in: folder)
            let fileSize = text.utf8.count
            #expect(try ShardedDenseReader.summarize(path: path, bytes: 0..<fileSize, blockSize: 7)
                == ShardedDenseReader.summarize(path: path, bytes: 0..<fileSize))
            var single: Result<DenseRatingMatrix, MixFillError>
            do { single = .success(try DenseMatrixReader.read(path: path)) } catch { single = .failure(error) }
            for size in 1...4 {
                switch single {
                case let .success(whole):
                    let blocks = try DistributedFitTests.onRanks(size) { group throws(MixFillError) in
                        try ShardedDenseReader.readRows(path: path, rules: .standard, formatDetected: false, group: group)
                    }
                    for (rank, block) in blocks.enumerated() {
                        let users = SingleProcessRanges.range(whole.userCount, rank, size)
                        #expect(block.users == users && block.userCount == whole.userCount, "trial \(trial), \(size) ranks")
                        #expect(block.matrix.itemCount == whole.itemCount)
                        #expect(block.matrix.values == Array(whole.values[(users.lowerBound * width)..<(users.upperBound * width)]),
                                "trial \(trial), \(size) ranks, rank \(rank)")
                    }
                    readCases += 1
                case let .failure(error):
                    let owner = SingleProcessRanges.owner(try #require(badRows.min()), rowCount, size)
                    let failures = ShardedRecordReaderTests.failures(size) { group throws(MixFillError) in
                        _ = try ShardedDenseReader.readRows(path: path, rules: .standard, formatDetected: false, group: group)
                    }
                    #expect(failures == ["rank \(owner): \(error.description)"], "trial \(trial), \(size) ranks")
                    refusedCases += 1
                }
            }
        }
        #expect(readCases >= 100 && refusedCases >= 40, "\(readCases) read, \(refusedCases) refused")
    }
}
