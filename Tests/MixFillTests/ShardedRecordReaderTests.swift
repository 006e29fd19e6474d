import Foundation
import Testing
@testable import MixFill

/// Text record files read by the ranks of a group, each parsing only its part of the bytes
/// (`DataShard.readRecords`): every rank must end with exactly its block of the rows a
/// single process reads, and the record a single process keeps of the whole file.
@Suite struct ShardedRecordReaderTests {
    /// Records in scrambled file order, user and item ids far from their indices, half-star
    /// ratings (or, with `manyValues`, more than 256 distinct ones), and some pairs repeated
    /// later in the file with another rating (the last one must win, across parts).
    static func records(users: Int = 120, items: Int = 90, manyValues: Bool = false) -> [(user: Int, item: Int, rating: String)] {
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(state >> 33)
        }
        var records = [(user: Int, item: Int, rating: String)]()
        for _ in 0..<(users * items / 4) {
            let user = next() % users
            let item = next() % items
            let rating = manyValues ? String(format: "%.3f", 1 + Double(next() % 4000) / 1000) : String(Double(1 + next() % 9) / 2)
            records.append((user * 37 + 1000, item * 11 + 5, rating))
        }
        for index in stride(from: 0, to: records.count / 2, by: 17) {
            records.append((records[index].user, records[index].item, "0.5"))
        }
        return records
    }

    /// Reads `text` (written as `name`) with 1–5 thread ranks and compares each rank's
    /// block, record and duplicate count with the single process's read of the whole file.
    static func checkSharded(_ text: String, named name: String, format: RatingFormat) throws {
        let folder = try Fixtures.scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = try Fixtures.write(text, named: name, in: folder)
        let whole = try RatingInput.load(path: path, format: format)
        let expected = try #require(TrainingDataRecord(describing: whole, path: path))
        #expect(whole.duplicatePairs > 0)
        for size in 1...5 {
            let reads = try DistributedFitTests.onRanks(size) { group throws(MixFillError) in
                try DataShard.readRecords(path: path, format: format, recordedPath: path, rules: .standard, group: group)
            }
            #expect(reads.count == size)
            for (rank, read) in reads.enumerated() {
                let users = Self.expectBlock(read.shard, of: whole.data, rank: rank, size: size)
                #expect(read.duplicatePairs == whole.duplicatePairs, "\(size) ranks")
                #expect(read.shard.input.format == format)
                #expect(read.shard.input.table.items == whole.items)
                try Self.expectSameRows(read.shard.input.table.matrix, whole.table.matrix.users(users))
                #expect(read.training == expected, "\(name), \(size) ranks, rank \(rank)")
            }
        }
    }

    /// Checks that `shard`, rank `rank` of `size`'s, holds its block of users of `whole`
    /// and the whole data's shape; returns the block's users.
    @discardableResult
    static func expectBlock(_ shard: DataShard, of whole: any RatingData, rank: Int, size: Int) -> Range<Int> {
        let users = SingleProcessRanges.range(whole.userCount, rank, size)
        #expect(shard.users == users, "rank \(rank) of \(size)")
        #expect(shard.userCount == whole.userCount && shard.itemCount == whole.itemCount)
        #expect(shard.observedCount == whole.observedCount)
        return users
    }

    /// The same rows, items and rating bits (the storage of the ratings may differ: a
    /// block can need fewer distinct values than the whole file).
    static func expectSameRows(_ actual: SparseRatingMatrix, _ expected: SparseRatingMatrix) throws {
        try #require(actual.userCount == expected.userCount && actual.itemCount == expected.itemCount)
        try #require(actual.rowStarts == expected.rowStarts)
        for position in 0..<expected.observedCount {
            #expect(actual.items[position] == expected.items[position])
            #expect(actual.ratings[position].bitPattern == expected.ratings[position].bitPattern)
        }
    }

    /// The records' exchange meets the pairs in rounds of a round-robin: in every round
    /// each rank has at most one partner, who has it as partner too, and every pair of
    /// ranks meets exactly once, in size − 1 rounds for an even size and size for an odd.
    @Test func theExchangeMeetsEveryPairOnceInRoundsOfDisjointPairs() {
        for size in 1...9 {
            let players = size + size % 2
            var met = Set<[Int]>()
            var rounds = 0
            for round in 0..<max(0, players - 1) {
                rounds += 1
                for rank in 0..<size {
                    let partner = ProcessGroupPairs.partner(of: rank, round: round, players: players)
                    #expect(partner != rank && partner >= 0 && partner < players)
                    #expect(ProcessGroupPairs.partner(of: partner, round: round, players: players) == rank)
                    if partner < size && rank < partner { #expect(met.insert([rank, partner]).inserted, "\(size) ranks") }
                }
            }
            #expect(met.count == size * (size - 1) / 2, "\(size) ranks")
            #expect(rounds == (size == 1 ? 1 : (size % 2 == 0 ? size - 1 : size)))
        }
    }

    @Test func tripletsWithCommentsBlankLinesAndRepeatedPairs() throws {
        var text = "# user item rating\n"
        for (index, record) in Self.records().enumerated() {
            text += "\(record.user)\t\(record.item)\t\(record.rating)\t\(964_982_703 + index)\n"
            if index % 97 == 0 { text += "\n# a comment\n" }
        }
        try Self.checkSharded(text, named: "ratings.tsv", format: .triplets)
    }

    @Test func csvWithByteOrderMarkHeaderAndCRLF() throws {
        var text = "\u{FEFF}userId,movieId,rating,timestamp\r\n"
        for record in Self.records() { text += "\(record.user),\(record.item),\(record.rating),964982703\r\n" }
        // No newline at the end of the last line.
        text += "1000,5,4.5"
        try Self.checkSharded(text, named: "ratings.csv", format: .csv)
    }

    /// A `;`-separated file with decimal commas: the separator, set by the first line that
    /// only the first part holds, reaches every rank through the fold.
    @Test func semicolonSeparatedCSVWithDecimalCommas() throws {
        var text = "# ratings\nuserId;movieId;rating\n"
        for record in Self.records() { text += "\(record.user);\(record.item);\(record.rating.replacingOccurrences(of: ".", with: ","))\n" }
        try Self.checkSharded(text, named: "ratings.csv", format: .csv)
    }

    /// Headers that place the columns, which only the first part holds and every rank
    /// learns through the fold: pandas' `to_csv` without `index=False` (an unnamed row
    /// index first), and named columns in another order than the layout's.
    @Test(arguments: [false, true])
    func csvWhoseHeaderPlacesTheColumns(namedInAnotherOrder: Bool) throws {
        var text = namedInAnotherOrder ? "timestamp,movieId,rating,userId\n" : ",userId,movieId,rating,timestamp\n"
        var plain = ""
        for (index, record) in Self.records().enumerated() {
            text += namedInAnotherOrder ? "964982703,\(record.item),\(record.rating),\(record.user)\n"
                : "\(index),\(record.user),\(record.item),\(record.rating),964982703\n"
            plain += "\(record.user),\(record.item),\(record.rating)\n"
        }
        let placed = try RecordReader.parse(Array(text.utf8), name: "ratings.csv", layout: .csv)
        #expect(placed == (try RecordReader.parse(Array(plain.utf8), name: "ratings.csv", layout: .csv)))
        try Self.checkSharded(text, named: "ratings.csv", format: .csv)
    }

    @Test func netflixLayoutWithMovieBlocksAcrossParts() throws {
        // Blocks of one movie each, long enough that parts begin inside a block.
        let byMovie = Dictionary(grouping: Self.records(users: 200, items: 12), by: \.item)
        var text = ""
        for movie in byMovie.keys.sorted() {
            text += "\(movie):\n"
            for record in byMovie[movie] ?? [] { text += "\(record.user),\(record.rating),2005-09-06\n" }
        }
        try Self.checkSharded(text, named: "netflix.txt", format: .netflix)
    }

    @Test func movieLensDatWithManyDistinctRatings() throws {
        var text = ""
        for record in Self.records(manyValues: true) { text += "\(record.user)::\(record.item)::\(record.rating)::978300760\n" }
        try Self.checkSharded(text, named: "ratings.dat", format: .movielensDat)
    }

    /// `body` run by `size` thread ranks of one `LocalWorld`, a failing rank ending the
    /// others (as MPI_Abort does): each failure a rank would print (not the others'
    /// "aborted", nor the silent "another rank stopped"), as "rank r: message".
    static func failures(_ size: Int, _ body: @escaping @Sendable (LocalGroup) throws(MixFillError) -> Void) -> [String] {
        let world = LocalWorld(size: size)
        let outcomes = ResultSlots<Int>(count: size)
        let done = DispatchGroup()
        for rank in 0..<size {
            done.enter()
            Thread {
                defer { done.leave() }
                let group = LocalGroup(world: world, rank: rank)
                let result = Result { () throws(MixFillError) -> Int in
                    try body(group)
                    return rank
                }
                if case .failure = result { world.abort() }
                outcomes.set(rank, result)
            }.start()
        }
        done.wait()
        #expect(outcomes.values.allSatisfy { $0 != nil }, "every rank ended")
        var failures = [String]()
        for rank in 0..<size {
            if case let .failure(error) = outcomes.values[rank], error.description != LocalWorld.abortedError.description,
               !ProcessGroupMessages.isSilent(error.description) {
                failures.append("rank \(rank): \(error.description)")
            }
        }
        return failures
    }

    /// A bad rating late in the file is refused by the rank whose part holds it, with the
    /// single process's file, line and column; with another bad line early in the file,
    /// only that first one is reported (by rank 0), as a single process reports it.
    @Test(arguments: [false, true])
    func aBadLineIsReportedAtItsLineByTheRankReadingIt(alsoEarly: Bool) throws {
        let records = Self.records()
        var text = "userId,movieId,rating\n"
        for (index, record) in records.enumerated() {
            let bad = index == records.count - 40 || (alsoEarly && index == 10)
            text += bad ? "\(record.user),\(record.item),four\n" : "\(record.user),\(record.item),\(record.rating)\n"
        }
        let folder = try Fixtures.scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = try Fixtures.write(text, named: "bad.csv", in: folder)
        var single: MixFillError?
        do { _ = try RatingInput.load(path: path, format: .csv) } catch { single = error }
        let expected = try #require(single)
        #expect(expected.description.contains("bad.csv:\(alsoEarly ? 12 : records.count - 40 + 2):"))
        for size in 2...3 {
            let failures = Self.failures(size) { group throws(MixFillError) in
                _ = try DataShard.readRecords(path: path, format: .csv, recordedPath: path, rules: .standard, group: group)
            }
            #expect(failures == ["rank \(alsoEarly ? 0 : size - 1): \(expected.description)"])
        }
    }
}
