import Foundation
@testable import MixFill
@testable import MixFillTools
import Testing

/// The reader's block size (8 MB), to make a file that spans several blocks.
enum LineBlocksSize {
    static let bytes = 1 << 23
}

/// The record readers (triplets, CSV, Netflix layout, MovieLens .dat), format detection and their errors.
@Suite struct RecordReaderTests {
    func parse(_ text: String, _ layout: RecordLayout) throws(MixFillError) -> RatingTable {
        try RecordReader.parse(Array(text.utf8), name: "ratings", layout: layout)
    }

    /// (user id, item id, rating) of every stored rating, in storage order.
    func records(_ table: RatingTable) -> [[Double]] {
        var out = [[Double]]()
        let matrix = table.matrix
        for user in 0..<matrix.userCount {
            for position in matrix.rowStarts[user]..<matrix.rowStarts[user + 1] {
                out.append([Double(table.users.id(user)), Double(table.items.id(matrix.items[position])), matrix.ratings[position]])
            }
        }
        return out
    }

    // MARK: Layouts

    @Test func tripletsWithTimestampsAndNonContiguousIdsInAnyOrder() throws {
        // MovieLens 100k's u.data: user, item, rating, timestamp, tab-separated, unsorted.
        let table = try parse("196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n196\t51\t2\t880606923\n", .triplets)
        #expect(table.users.ids == [22, 186, 196])
        #expect(table.items.ids == [51, 242, 302, 377])
        #expect(table.matrix.userCount == 3 && table.matrix.itemCount == 4 && table.matrix.observedCount == 4)
        #expect(table.matrix.rowStarts == [0, 1, 2, 4])
        #expect(records(table) == [[22, 377, 1], [186, 302, 3], [196, 51, 2], [196, 242, 3]])
        #expect(table.duplicatePairs == 0)
        #expect(table.matrix.denseRow(2) == [2, 3, 0, 0])
    }

    @Test func tripletsWithSpacesHalfStarsCRLFCommentsHeaderAndBOM() throws {
        let text = "\u{FEFF}user item rating\r\n# a comment\r\n\r\n  7   10  4.5 \r\n7 3 0.5\r\n-2 10 3.25e0\r\n"
        let table = try parse(text, .triplets)
        #expect(records(table) == [[-2, 10, 3.25], [7, 3, 0.5], [7, 10, 4.5]])
        guard case let .coded(palette, _) = table.matrix.ratings else {
            Issue.record("three distinct ratings should be stored as one-byte codes")
            return
        }
        #expect(palette == [0.5, 3.25, 4.5])
        if case .narrow = table.matrix.items {} else { Issue.record("two items fit in 16-bit indices") }
    }

    @Test func aFirstIdStartingWithU_FEFFSurvivesWriteAndRead() throws {
        // Not at the file's start, U+FEFF is part of an id; written first, it would look like
        // a byte order mark, which the reader takes off, so the writer puts a mark before it.
        // (A fuzzer's find: the id changed on write → read.)
        let table = try parse("0 0 1\n \u{FEFF}userJ -1 2 ratingA\n", .triplets)
        #expect(table.users.names == ["0", "\u{FEFF}userJ"])
        let folder = try Fixtures.scratchFolder()
        let single = try parse(" \u{FEFF}userJ -1 2\n", .triplets)
        #expect(single.users.names == ["\u{FEFF}userJ"])
        for (name, original) in [("single", single), ("two", table)] {
            let path = folder + "/\(name).tsv"
            try RecordWriter.write(original, to: path, layout: .triplets)
            let again = try RecordReader.read(path: path, layout: .triplets, rules: .standard)
            #expect(again.users == original.users && again.items == original.items, "\(name)")
            #expect(again.matrix.userCount == original.matrix.userCount, "\(name)")
            for user in 0..<original.matrix.userCount {
                #expect(again.matrix.denseRow(user) == original.matrix.denseRow(user), "\(name), user \(user)")
            }
        }
        let bytes = try Data(contentsOf: URL(fileURLWithPath: folder + "/single.tsv"))
        #expect(Array(bytes.prefix(6)) == [0xEF, 0xBB, 0xBF, 0xEF, 0xBB, 0xBF])
    }

    @Test func csvWithAndWithoutHeader() throws {
        let withHeader = try parse("userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.5,964981247\n610,170875,3.0,1493846415\n", .csv)
        #expect(records(withHeader) == [[1, 1, 4], [1, 3, 4.5], [610, 170875, 3]])
        let withoutHeader = try parse("1,1,4.0\r\n1,3,4.5\r\n610,170875,3.0", .csv)
        #expect(withoutHeader == withHeader)
        let spaced = try parse("1, 1, 4.0\n 1 ,3, 4.5\n610,170875 , 3\n", .csv)
        #expect(spaced == withHeader)
        // A file converted to CRLF twice ends its lines with \r\r\n, the header included.
        let doubled = try parse("userId,movieId,rating,timestamp\r\r\n1,1,4.0,964982703\r\r\n1,3,4.5,964981247\r\r\n610,170875,3.0,1493846415\r\r\n", .csv)
        #expect(doubled == withHeader)
        #expect(try parse("movieId,userId,rating\r\r\n1,1,4.0\r\r\n", .csv).users.ids == [1])
    }

    /// What pandas' `to_csv` (an unnamed index column first, also tab-separated) and R's
    /// `write.csv` (the row names quoted in an unnamed first column) write by default, and
    /// a file with every field quoted, read as the same ratings.
    @Test func exportsWithARowIndexColumnOrQuotedFieldsReadAsTheRatings() throws {
        let expected = try parse("1,1,4.0\n1,3,4.5\n610,170875,3.0\n", .csv)
        let pandas = try parse(",userId,movieId,rating,timestamp\n0,1,1,4.0,964982703\n1,1,3,4.5,964981247\n2,610,170875,3.0,1493846415\n", .csv)
        #expect(pandas == expected)
        let pandasWithoutTimestamps = try parse(",userId,movieId,rating\n0,1,1,4.0\n1,1,3,4.5\n2,610,170875,3.0\n", .csv)
        #expect(pandasWithoutTimestamps == expected)
        let r = try parse("\"\",\"userId\",\"movieId\",\"rating\"\r\n\"1\",1,1,4\r\n\"2\",1,3,4.5\r\n\"3\",610,170875,3\r\n", .csv)
        #expect(r == expected)
        let quoted = try parse("\"userId\",\"movieId\",\"rating\"\n\"1\",\"1\",\"4.0\"\n\"1\", \"3\" ,\"4.5\"\n\"610\",\"170875\",\"3\"\n", .csv)
        #expect(quoted == expected)
        // A quoted timestamp or tag with commas (and a quote, doubled) inside is one field.
        let quotedCommas = try parse("1,1,4.0,\"2005-01-01, 12:00\"\n1,3,4.5,\"a \"\"b\"\", c\"\n610,170875,3.0,\"\"\n", .csv)
        #expect(quotedCommas == expected)
        let pandasTabs = try parse("\tuserId\tmovieId\trating\n0\t1\t1\t4.0\n1\t1\t3\t4.5\n2\t610\t170875\t3.0\n", .triplets)
        #expect(pandasTabs == expected)
        // A header that names its first column keeps the first field as the user.
        #expect(try parse("userId\tmovieId\trating\n1\t1\t4.0\n1\t3\t4.5\n610\t170875\t3.0\n", .triplets) == expected)
    }

    /// CSV with `;` between the fields, as spreadsheets export it where the comma is the
    /// decimal mark, and as Book-Crossing's `BX-Book-Ratings.csv` stands (every field
    /// quoted, ISBNs as text ids): read as the same records as with commas.
    @Test func semicolonSeparatedCSVWithDecimalCommas() throws {
        let expected = try parse("1,1,4.0\n1,3,4.5\n610,170875,3.0\n", .csv)
        let cases = [
            "1;1;4\n1;3;4,5\n610;170875;3\n",
            "userId;movieId;rating;timestamp\r\n1;1;4,0;964982703\r\n1 ; 3 ; 4.5 ;964981247\r\n610;170875;3;1493846415\r\n",
            "# exported\n\n\"userId\";\"movieId\";\"rating\"\n\"1\";\"1\";\"4\"\n\"1\";\"3\";\"4,5\"\n\"610\";\"170875\";\"3\"\n",
            // The separator is the first line's; a quoted comma or semicolon does not count.
            "1;1;4;\"a,b,c,d\"\n1;3;4,5\n610;170875;3\n",
        ]
        for text in cases {
            #expect(try parse(text, .csv) == expected, "\(text.debugDescription)")
        }
        // Book-Crossing: ISBNs with a leading zero or an X are names, kept as written.
        let books = try parse("\"User-ID\";\"ISBN\";\"Book-Rating\"\n\"276725\";\"034545104X\";\"0\"\n\"276726\";\"155061224\";\"5\"\n\"276729\";\"052165615X\";\"3\"\n", .csv)
        #expect(books.users.ids == [276725, 276726, 276729])
        #expect(books.items.names == ["034545104X", "052165615X", "155061224"])
        #expect(books.matrix.observedCount == 3 && books.matrix.denseRow(2) == [0, 3, 0])
        // A comma file keeps its commas, with semicolons in a field or a quoted one.
        #expect(try parse("1,1,4.0,\"a;b;c\"\n1,3,4.5,x;y\n610,170875,3.0\n", .csv) == expected)
        // The first line decides for the file: a line with the other mark is an error there.
        #expect(throws: MixFillError.badInput(file: "ratings", line: 2, column: 1, message: "'1,3,4.5' is not a user id; ids are whole numbers (this file's fields are separated by ';', as its first line sets, and this line's by ',')")) {
            try parse("1;1;4\n1,3,4.5\n", .csv)
        }
        #expect(throws: MixFillError.badInput(file: "ratings", line: 2, column: 1, message: "'1;3;4' is not a user id; ids are whole numbers (this file's fields are separated by ',', as its first line sets, and this line's by ';')")) {
            try parse("1,1,4\n1;3;4\n", .csv)
        }
        // A decimal comma is a comma file's separator, and no decimal mark: a fourth field.
        #expect(try parse("1,1,4,5\n", .csv) == (try parse("1,1,4\n", .csv)))
        #expect(throws: MixFillError.badInput(file: "ratings", line: 1, column: 5, message: "'4,5,6' is not a rating; ratings are decimal numbers such as 4 or 3.5")) {
            try parse("1;1;4,5,6;964982703\n", .csv)
        }
        #expect(throws: MixFillError.badInput(file: "ratings", line: 2, column: 4, message: "line has 2 fields; a CSV line here is 'user;item;rating[;timestamp]'")) {
            try parse("1;1;4\n1;3\n", .csv)
        }
        // Pair and rating lists take the semicolon too.
        let pairs = try PairsReader.parse(Array("\"userId\";\"movieId\"\n1;31\n7;1029\n".utf8), name: "pairs.csv")
        #expect(pairs.map(\.user) == ["1", "7"] && pairs.map(\.item) == ["31", "1029"])
    }

    /// A header whose names tell user, item and rating apart is read by those names: a
    /// named index column (`index`, pandas' `Unnamed: 0` after a read_csv/to_csv round
    /// trip), columns in another order, more columns than the layout's four.
    @Test func aHeaderThatNamesTheColumnsIsReadByTheNames() throws {
        let expected = try parse("1,1,4.0\n1,3,4.5\n610,170875,3.0\n", .csv)
        let cases = [
            "index,userId,movieId,rating\n0,1,1,4.0\n1,1,3,4.5\n2,610,170875,3.0\n",
            "Unnamed: 0,userId,movieId,rating,timestamp\n0,1,1,4.0,964982703\n1,1,3,4.5,964981247\n2,610,170875,3.0,1493846415\n",
            "movieId,userId,rating\n1,1,4.0\n3,1,4.5\n170875,610,3.0\n",
            "timestamp,rating,item_id,user_id\n964982703,4.0,1,1\n964981247,4.5,3,1\n1493846415,3.0,170875,610\n",
            "User-ID,ISBN,Book-Rating\n1,1,4.0\n1,3,4.5,extra\n610,170875,3.0\n",
            "userId,movieId,rating,timestamp,tag\n1,1,4.0,964982703,funny\n1,3,4.5,964981247,\n610,170875,3.0,1493846415,x\n",
        ]
        for text in cases {
            #expect(try parse(text, .csv) == expected, "\(text.debugDescription)")
        }
        #expect(try parse("movie user rating\n1 1 4.0\n3 1 4.5\n170875 610 3.0 1493846415\n", .triplets) == expected)
        #expect(try parse("movieId::userId::rating\n1::1::4.0\n3::1::4.5\n170875::610::3.0\n", .movielensDat) == expected)
        // Names that do not tell the roles apart (a second item-like name) leave the
        // layout's order, and the title is then refused as a rating rather than misread.
        #expect(throws: MixFillError.badInput(file: "ratings", line: 2, column: 5, message: "'Toy Story' is not a rating; ratings are decimal numbers such as 4 or 3.5")) {
            try parse("userId,movieId,movieTitle,rating\n1,1,Toy Story,4.0\n", .csv)
        }
        let shape = "by its header a line holds the user in field 2, the item in field 1 and the rating in field 3, at most 4 fields"
        #expect(throws: MixFillError.badInput(file: "ratings", line: 2, column: 4, message: "line has 2 fields; \(shape)")) {
            try parse("movieId,userId,rating\n1,1\n", .csv)
        }
        #expect(throws: MixFillError.badInput(file: "ratings", line: 2, column: 1, message: "'2.5' is not an item id; ids are whole numbers")) {
            try parse("movieId,userId,rating\n2.5,1,4\n", .csv)
        }
    }

    @Test func netflixLayoutWithDatesMovieBlocksCRLFAndHalfStars() throws {
        let text = "1:\n1488844,3,2005-09-06\n822109,5,2005-05-13\n\n8:\r\n1488844,4,2005-12-01\r\n30878,2.5\r\n"
        let table = try parse(text, .netflix)
        #expect(table.users.ids == [30878, 822109, 1488844])
        #expect(table.items.ids == [1, 8])
        #expect(records(table) == [[30878, 8, 2.5], [822109, 1, 5], [1488844, 1, 3], [1488844, 8, 4]])
    }

    /// MovieLens 1M's ratings.dat (whole stars) and 10M's (half stars), `::` between the
    /// fields: the same table as the CSV of the same records, with or without timestamps,
    /// CRLF, blanks around fields, a comment and a BOM.
    @Test func movielensDatReadsLikeTheSameRecordsInCSV() throws {
        let csv = try parse("userId,movieId,rating,timestamp\n1,1193,5,978300760\n1,661,3,978302109\n6040,1097,4,956715569\n71567,2338,2.5,912580553\n", .csv)
        let dat = try parse("1::1193::5::978300760\n1::661::3::978302109\n6040::1097::4::956715569\n71567::2338::2.5::912580553\n", .movielensDat)
        #expect(dat == csv)
        #expect(records(dat) == [[1, 661, 3], [1, 1193, 5], [6040, 1097, 4], [71567, 2338, 2.5]])
        let untidy = try parse("\u{FEFF}# MovieLens 10M\r\n1 :: 1193 ::5\r\n\r\n1::661::3::978302109\r\n6040::1097::4\n71567:: 2338 ::2.5::\n", .movielensDat)
        #expect(untidy == csv)
    }

    @Test func orderOfRecordsDoesNotChangeTheTable() throws {
        let byUser = try parse("1 10 5\n1 20 3\n2 10 4\n3 30 1\n", .triplets)
        let shuffled = try parse("3 30 1\n2 10 4\n1 20 3\n1 10 5\n", .triplets)
        let byMovie = try parse("10:\n2,4\n1,5\n20:\n1,3\n30:\n3,1\n", .netflix)
        #expect(shuffled == byUser)
        #expect(byMovie == byUser)
    }

    @Test func duplicatePairsKeepTheLastRatingAndAreCounted() throws {
        let table = try parse("1 10 5\n2 10 4\n1 10 2\n1 20 3\n1 10 1.5\n", .triplets)
        #expect(records(table) == [[1, 10, 1.5], [1, 20, 3], [2, 10, 4]])
        #expect(table.duplicatePairs == 2)
    }

    @Test func zeroAndNegativeRatingsAreRatingsInRecords() throws {
        let table = try parse("1 1 0\n1 2 -3\n", .triplets)
        #expect(records(table) == [[1, 1, 0], [1, 2, -3]])
        #expect(table.matrix.observedCount == 2)
    }

    @Test func moreThan256DistinctRatingsAreKeptExactly() throws {
        let lines = (0..<300).map { "1 \($0) \(Double($0) / 7 + 0.001)" }.joined(separator: "\n")
        let table = try parse(lines, .triplets)
        guard case let .exact(values) = table.matrix.ratings else {
            Issue.record("300 distinct ratings must be stored as Doubles")
            return
        }
        #expect(values == (0..<300).map { Double($0) / 7 + 0.001 })
    }

    @Test func manyItemsUseWideIndices() throws {
        let lines = (0..<70_000).map { "1 \($0 * 3) 4" }.joined(separator: "\n")
        let table = try parse(lines, .triplets)
        #expect(table.matrix.itemCount == 70_000)
        guard case let .wide(indices) = table.matrix.items else {
            Issue.record("70,000 items need 32-bit indices")
            return
        }
        #expect(indices.last == 69_999)
        #expect(table.items.id(69_999) == 209_997)
    }

    @Test func idsAtTheLimitsOf64Bits() throws {
        let table = try parse("9223372036854775807 -9223372036854775808 2\n4294967296 1 3\n", .triplets)
        #expect(table.users.ids == [4_294_967_296, Int64.max])
        #expect(table.items.ids == [Int64.min, 1])
    }

    @Test func readsFromDiskInBlocksAcrossLineBoundaries() throws {
        // More than one 8 MB read block, so lines straddle block ends.
        var text = "userId,movieId,rating\n"
        for user in 0..<30_000 {
            for item in stride(from: user % 7, to: 150, by: 7) {
                text += "\(user * 3 + 1),\(item * 11),\(Double((user + item) % 10 + 1) / 2)\n"
            }
        }
        #expect(text.utf8.count > LineBlocksSize.bytes)
        let folder = try Fixtures.scratchFolder()
        let path = try Fixtures.write(text, named: "big.csv", in: folder)
        let fromDisk = try RecordReader.read(path: path, layout: .csv)
        #expect(fromDisk == (try RecordReader.parse(Array(text.utf8), name: path, layout: .csv)))
        #expect(fromDisk.matrix.userCount == 30_000)
        #expect(fromDisk.matrix.observedCount == text.utf8.split(separator: UInt8(ascii: "\n")).count - 1)
    }

    // MARK: Malformed input: file:line:column and what to do

    static let malformedTripletsCases: [(String, MixFillError)] = {
        let shape = "a triplets line is 'user item rating [timestamp]' separated by spaces or tabs"
        return [
            ("1 2 3\n4 5\n", .badInput(file: "ratings", line: 2, column: 4, message: "line has 2 fields; \(shape)")),
            ("1 2 3\n4\r\n", .badInput(file: "ratings", line: 2, column: 2, message: "line has 1 field; \(shape)")),
            ("1 2 3 4 5\n", .badInput(file: "ratings", line: 1, column: 9, message: "line has more than 4 fields; \(shape)")),
            ("1 2 3\n4.5 2 3\n", .badInput(file: "ratings", line: 2, column: 1, message: "'4.5' is not a user id; ids are whole numbers")),
            ("1 2 3\nx 2 three\n", .badInput(file: "ratings", line: 2, column: 1, message: "'x' is not a user id; ids are whole numbers")),
            ("1 2 3\n1 2.5 3\n", .badInput(file: "ratings", line: 2, column: 3, message: "'2.5' is not an item id; ids are whole numbers")),
            ("1 99999999999999999999 3\n", .badInput(file: "ratings", line: 1, column: 3, message: "item id '99999999999999999999' does not fit in 64 bits; ids must lie within ±9223372036854775807")),
            ("1 2 three\n", .badInput(file: "ratings", line: 1, column: 5, message: "'three' is not a rating; ratings are decimal numbers such as 4 or 3.5")),
            ("1 2 3\n\n1 3 nan\n", .badInput(file: "ratings", line: 3, column: 5, message: "'nan' is not a finite rating; ratings must be finite decimal numbers")),
            ("1 2 1e999\n", .badInput(file: "ratings", line: 1, column: 5, message: "'1e999' is not a finite rating; ratings must be finite decimal numbers")),
        ]
    }()

    @Test func malformedTriplets() {
        for (text, error) in Self.malformedTripletsCases {
            #expect(throws: error, "\(text.debugDescription)") { try parse(text, .triplets) }
        }
    }

    static let malformedCSVCases: [(String, MixFillError)] = {
        let shape = "a CSV line is 'user,item,rating[,timestamp]'"
        let indexShape = "by its header a line holds the user in field 2, the item in field 3 and the rating in field 4, at most 5 fields"
        return [
            ("userId,movieId,rating\n1,2\n", .badInput(file: "ratings", line: 2, column: 4, message: "line has 2 fields; \(shape)")),
            ("1,2,3\n1,2,3,4,5\n", .badInput(file: "ratings", line: 2, column: 9, message: "line has more than 4 fields; \(shape)")),
            ("1,2,3\n,2,3\n", .badInput(file: "ratings", line: 2, column: 1, message: "the user id field is empty; ids are whole numbers")),
            ("1,2,3\n1,,3\n", .badInput(file: "ratings", line: 2, column: 3, message: "the item id field is empty; ids are whole numbers")),
            ("1,2,3\n1,2,\n", .badInput(file: "ratings", line: 2, column: 5, message: "the rating field is empty; ratings are decimal numbers such as 4 or 3.5")),
            ("userId,movieId,rating\nuserId,movieId,rating\n", .badInput(file: "ratings", line: 2, column: 1, message: "'userId' is not a user id; ids are whole numbers")),
            ("1,2,3\n1;2;3\n", .badInput(file: "ratings", line: 2, column: 1, message: "'1;2;3' is not a user id; ids are whole numbers (this file's fields are separated by ',', as its first line sets, and this line's by ';')")),
            // Quotes are removed from a field, not its content checked any less; a quoted
            // field keeps its commas, and text after its closing quote spoils it.
            ("\"1\",\"1.5\",\"3\"\n", .badInput(file: "ratings", line: 1, column: 6, message: "'1.5' is not an item id; ids are whole numbers")),
            ("1,2,\"4,5\"\n", .badInput(file: "ratings", line: 1, column: 6, message: "'4,5' is not a rating; ratings are decimal numbers such as 4 or 3.5")),
            ("1,\"2\"3,4\n", .badInput(file: "ratings", line: 1, column: 3, message: "'\"2\"3' is not an item id; ids are whole numbers")),
            // Under a header with an unnamed first column, every line has that column.
            (",userId,movieId,rating\n0,1,2,3\n1,2,3\n", .badInput(file: "ratings", line: 3, column: 6, message: "line has 3 fields; \(indexShape)")),
            (",userId,movieId,rating\n0,1,2,3,4,5\n", .badInput(file: "ratings", line: 2, column: 11, message: "line has more than 5 fields; \(indexShape)")),
            (",userId,movieId,rating\n0\n", .badInput(file: "ratings", line: 2, column: 2, message: "line has 1 field; \(indexShape)")),
        ]
    }()

    @Test func malformedCSV() {
        for (text, error) in Self.malformedCSVCases {
            #expect(throws: error, "\(text.debugDescription)") { try parse(text, .csv) }
        }
    }

    static let malformedNetflixCases: [(String, MixFillError)] = {
        let shape = "after a 'movieId:' line each line is 'userId,rating[,date]'"
        return [
            ("1488844,3,2005-09-06\n", .badInput(file: "ratings", line: 1, column: 1, message: "rating line before any 'movieId:' line; a Netflix Prize file starts each movie's block with a line like '1:'")),
            ("1:\n1,3\nabc:\n", .badInput(file: "ratings", line: 3, column: 1, message: "'abc:' is not a movie line; write the movie id as a whole number followed by ':', like '1:'")),
            ("1:\n1488844\n", .badInput(file: "ratings", line: 2, column: 8, message: "line has 1 field; \(shape)")),
            ("1:\n1,3,2005-09-06,x\n", .badInput(file: "ratings", line: 2, column: 16, message: "line has more than 3 fields; \(shape)")),
            ("1:\n1,five,2005\n", .badInput(file: "ratings", line: 2, column: 3, message: "'five' is not a rating; ratings are decimal numbers such as 4 or 3.5")),
            ("1:\nu1,3,2005\n", .badInput(file: "ratings", line: 2, column: 1, message: "'u1' is not a user id; ids are whole numbers")),
        ]
    }()

    @Test func malformedNetflixLayout() {
        for (text, error) in Self.malformedNetflixCases {
            #expect(throws: error, "\(text.debugDescription)") { try parse(text, .netflix) }
        }
    }

    static let malformedDatCases: [(String, MixFillError)] = {
        let shape = "a MovieLens .dat line is 'user::item::rating[::timestamp]', fields separated by two colons"
        return [
            // One colon where two belong: the field '2:5' is no id.
            ("1::1193::5::978300760\n1::2:5::978302109\n", .badInput(file: "ratings", line: 2, column: 4, message: "'2:5' is not an item id; ids are whole numbers")),
            ("1::1193\n", .badInput(file: "ratings", line: 1, column: 8, message: "line has 2 fields; \(shape)")),
            ("1::1193::5::978300760::x\n", .badInput(file: "ratings", line: 1, column: 24, message: "line has more than 4 fields; \(shape)")),
            ("1::1193::five::978300760\n", .badInput(file: "ratings", line: 1, column: 10, message: "'five' is not a rating; ratings are decimal numbers such as 4 or 3.5")),
            ("1::1193::5\n::1193::5\n", .badInput(file: "ratings", line: 2, column: 1, message: "the user id field is empty; ids are whole numbers")),
            ("1::1193::5\n1,1193,5\n", .badInput(file: "ratings", line: 2, column: 1, message: "'1,1193,5' is not a user id; ids are whole numbers")),
        ]
    }()

    @Test func malformedMovielensDat() {
        for (text, error) in Self.malformedDatCases {
            #expect(throws: error, "\(text.debugDescription)") { try parse(text, .movielensDat) }
        }
    }

    static let filesWithoutRatings: [(String, RecordLayout)] = [("", .triplets), ("\n# comment\n\n", .csv), ("userId,movieId,rating\n", .csv), ("1:\n2:\n", .netflix), ("# no ratings\n", .movielensDat)]

    @Test func filesWithoutRatingsAreRejected() {
        let message = "no ratings found (the file is empty or holds only blank lines, comments or a header); give one rating per line"
        for (text, layout) in Self.filesWithoutRatings {
            #expect(throws: MixFillError.badFile(file: "ratings", message: message), "\(text.debugDescription)") { try parse(text, layout) }
        }
    }

    // MARK: Detection

    @Test func formatsAreDetectedFromTheContent() {
        func detect(_ text: String) -> RatingFormat {
            RatingFormat.detect(prefix: Array(text.utf8), isWholeFile: true)
        }
        #expect(detect("196\t242\t3\t881250949\n186\t302\t3\t891717742\n") == .triplets)
        #expect(detect("user item rating\n1 2 3.5\n") == .triplets)
        #expect(detect("userId,movieId,rating,timestamp\n1,1,4.0,964982703\n") == .csv)
        #expect(detect("1,1,4.0\n") == .csv)
        #expect(detect("\"User-ID\";\"ISBN\";\"Book-Rating\"\n\"276725\";\"034545104X\";\"0\"\n") == .csv)
        #expect(detect("1;1;4,5\n") == .csv)
        #expect(detect("\u{FEFF}# Netflix\n1:\n1488844,3,2005-09-06\n") == .netflix)
        // A Netflix Prize mv_0000001.txt (one movie) and a combined_data_1.txt (movie blocks), CRLF too.
        #expect(detect("1:\n1488844,3,2005-09-06\n822109,5,2005-05-13\n885013,4,2005-10-19\n") == .netflix)
        #expect(detect("1:\r\n1488844,3,2005-09-06\r\n2:\r\n2059652,4,2005-09-05\r\n") == .netflix)
        // MovieLens 1M/10M ratings.dat, with or without timestamps; '::' wins over a comma.
        #expect(detect("1::1193::5::978300760\n1::661::3::978302109\n") == .movielensDat)
        #expect(detect("\u{FEFF}\n# 10M\n71567::2338::2.5\n") == .movielensDat)
        #expect(detect("1::1193::5,6\n") == .movielensDat)
        #expect(detect("2 5 3 0 0\n3 5 0 4 3\n") == .dense)
        // Three columns with a 0 or a negative third value, or a ragged row: a dense matrix.
        #expect(detect("1 2 0\n4 5 6\n") == .dense)
        #expect(detect("1 2 3\n4 5 -1\n") == .dense)
        #expect(detect("1 2 3\n4 5 6\n7 8\n") == .dense)
        // Records with one bad line in twenty (at least 90 % triplets) that no matrix can
        // hold either — a missing field, "NA", a header again — are triplets, so the error
        // names the bad line as a record; a zero rating keeps the rows a possible matrix.
        let nineteen = (1...19).map { "\($0) \($0 + 100) 4\n" }.joined()
        #expect(detect(nineteen + "7 8\n") == .triplets)
        #expect(detect("user item rating\n" + nineteen + "20 3 NA\n") == .triplets)
        #expect(detect(nineteen.replacingOccurrences(of: "5 105 4\n", with: "5 105 4\nuser item rating\n")) == .triplets)
        #expect(detect(nineteen + "20 120 0\n") == .dense)
        // A 3-column matrix with a missing entry (0) and a short row: a matrix whose row is
        // wrong, so the error speaks of rows, not of a record's fields.
        #expect(detect(nineteen + "20 120 0\n" + "7 8\n") == .dense)
        // Triplets with timestamps on some lines and one rating of 0: still triplets.
        #expect(detect(nineteen + "20 120 0\n" + "21 121 4 964982703\n") == .triplets)
        #expect(detect(String(nineteen.prefix(24)) + "7 8\n") == .dense, "three records and a bad line: too few to tell")
        #expect(detect("") == .dense)
        #expect(detect("MIXFILLR\u{1}\0\0\0") == .binary)
    }

    @Test func theCLIReportsMalformedRecordsWithExitCode2() throws {
        let folder = try Fixtures.scratchFolder()
        // A bad record among triplets early in a file is reported as a record, not as a matrix's row.
        let records = (1...30).map { $0 == 5 ? "5 105 NA\n" : "\($0) \($0 + 100) 4\n" }.joined()
        let na = try Fixtures.write(records, named: "na.tsv", in: folder)
        #expect(try CLI.usageFailure(["fit", na, "-k", "1"]) == "mixfill: error: \(na):5:7: 'NA' is not a rating; ratings are decimal numbers such as 4 or 3.5")
        let path = try Fixtures.write("userId,movieId,rating\n1,2,4\n1,2.5,3\n", named: "bad.csv", in: folder)
        let line = try CLI.usageFailure(["fit", path, "-k", "1"])
        #expect(line == "mixfill: error: \(path):3:3: '2.5' is not an item id; ids are whole numbers")
        let netflix = try Fixtures.write("5,3,2005-01-01\n", named: "bad.txt", in: folder)
        let netflixLine = try CLI.usageFailure(["fit", netflix, "--format", "netflix", "-k", "1"])
        #expect(netflixLine == "mixfill: error: \(netflix):1:1: rating line before any 'movieId:' line; a Netflix Prize file starts each movie's block with a line like '1:'")
    }

    /// Every malformed case above, as a file given to `mixfill fit --format LAYOUT`: the
    /// same message with the file's path, line and column, exit code 2, one line, and no
    /// model written.
    @Test func everyMalformedCaseThroughTheCLI() throws {
        let folder = try Fixtures.scratchFolder()
        let model = folder + "/m.json"
        var cases = [(text: String, layout: String, error: MixFillError)]()
        cases += Self.malformedTripletsCases.map { ($0.0, "triplets", $0.1) }
        cases += Self.malformedCSVCases.map { ($0.0, "csv", $0.1) }
        cases += Self.malformedNetflixCases.map { ($0.0, "netflix", $0.1) }
        cases += Self.malformedDatCases.map { ($0.0, "movielens-dat", $0.1) }
        let empty = "no ratings found (the file is empty or holds only blank lines, comments or a header); give one rating per line"
        cases += Self.filesWithoutRatings.map { ($0.0, $0.1.rawValue, MixFillError.badFile(file: "ratings", message: empty)) }
        #expect(cases.count == 10 + 13 + 6 + 6 + 5)
        for (index, item) in cases.enumerated() {
            let path = try Fixtures.write(item.text, named: "case\(index).\(item.layout)", in: folder)
            let place: String
            switch item.error {
            case let .badInput(_, line, column, message): place = "\(path):\(line):\(column): \(message)"
            case let .badFile(_, message): place = "\(path): \(message)"
            default: Issue.record("unexpected case \(item.error)"); continue
            }
            #expect(try CLI.usageFailure(["fit", path, "--format", item.layout, "-k", "1", "--model-out", model])
                == "mixfill: error: \(place)", "\(item.text.debugDescription)")
        }
        #expect(!FileManager.default.fileExists(atPath: model))
    }

    /// Pair and rating lists as pandas and R export them: the unnamed index column
    /// skipped on every line, quoted fields read as their content; a header naming its
    /// first column keeps it.
    @Test func pairAndRatingListsWithARowIndexColumnOrQuotedFields() throws {
        func pairs(_ text: String) throws(MixFillError) -> [[Int64]] {
            try PairsReader.parse(Array(text.utf8), name: "pairs.csv").map { [Int64($0.user)!, Int64($0.item)!] }
        }
        let expected: [[Int64]] = [[1, 31], [1, 1029], [7, 31]]
        #expect(try pairs("userId,movieId\n1,31\n1,1029\n7,31\n") == expected)
        #expect(try pairs(",userId,movieId\n0,1,31\n1,1,1029\n2,7,31\n") == expected)
        #expect(try pairs("\tuserId\tmovieId\n0\t1\t31\n1\t1\t1029\n2\t7\t31\n") == expected)
        #expect(try pairs("\"\",\"userId\",\"movieId\"\n\"1\",1,31\n\"2\",1,1029\n\"3\",7,31\n") == expected)
        #expect(try pairs("\"1\",\"31\"\n\"1\",\"1029\"\n\"7\",\"31\"\n") == expected)
        #expect(throws: MixFillError.badInput(file: "pairs.csv", line: 3, column: 3, message:
            "2 fields where a pair needs 3; by its header a line holds the user in field 2 and the item in field 3")) {
            try pairs(",userId,movieId\n0,1,31\n1,1\n")
        }
        // Named columns in another order, or beside an index or a rating: read by the names.
        #expect(try pairs("movieId,userId\n31,1\n1029,1\n31,7\n") == expected)
        #expect(try pairs("index,userId,movieId,rating\n0,1,31,4\n1,1,1029,3\n2,7,31,5\n") == expected)
        let ratings = try UserRatingsReader.parse(Array(",movieId,rating\n0,31,4.5\n1,1029,3\n".utf8), name: "mine.csv")
        #expect(ratings.map(\.item) == ["31", "1029"] && ratings.map(\.rating) == [4.5, 3])
        for text in ["rating,movieId\n4.5,31\n3,1029\n", "movieId,rating,timestamp\n31,4.5,964982703\n1029,3\n"] {
            let named = try UserRatingsReader.parse(Array(text.utf8), name: "mine.csv")
            #expect(named.map(\.item) == ["31", "1029"] && named.map(\.rating) == [4.5, 3], "\(text.debugDescription)")
        }
        #expect(throws: MixFillError.badInput(file: "mine.csv", line: 2, column: 1, message:
            "2 fields where a rating needs 3; by its header a line holds the item in field 2 and the rating in field 3, at most 3 fields")) {
            try UserRatingsReader.parse(Array(",movieId,rating\n31,4.5\n".utf8), name: "mine.csv")
        }
    }

    // MARK: Found by Scripts/fuzz

    /// The `ratings` fuzz target's first find (kept as its seed
    /// Tests/Fuzz/corpus/ratings/regression-control-bytes-in-rating.txt): a rating field
    /// with NUL and non-UTF-8 bytes was quoted raw, so the one-line message held control
    /// characters. It is now escaped like every other reader's quotes.
    @Test func aRatingsFileQuotesControlBytesEscaped() {
        let bytes: [UInt8] = Array("10 ".utf8) + [0xF5, 0xFF, 0xCD, 0x8F, 0xD3, 0x59] + [UInt8](repeating: 0, count: 8) + Array(".5b\n".utf8)
        #expect(throws: MixFillError.badInput(file: "r.txt", line: 1, column: 4, message:
            #"'\xF5\xFF\xCD\x8F\xD3Y\x00\x00\x00\x00\x00\x00\x00\x00.5b' is not a finite number; write one rating per line: ITEM RATING"#)) {
            try UserRatingsReader.parse(bytes, name: "r.txt")
        }
    }
}
