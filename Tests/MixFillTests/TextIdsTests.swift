import Foundation
@testable import MixFill
import Testing

/// Rating files whose ids are text (Amazon's reviewer ids and ASINs, ISBNs with a leading
/// zero or an X, e-mail addresses): read as names kept as written, ordered by their UTF-8
/// bytes, and carried through model files, predictions, recommendations and conversions.
@Suite(.serialized) struct TextIdsTests {
    /// No header, a timestamp column, Amazon-style ids. Items as written:
    /// 0345339703 (a leading zero), 034545104X and B00004CXX9. Every user rates two of the
    /// three items, and every item has two ratings with a mean that is a short binary
    /// fraction: 0345339703 → 4, 034545104X → 3, B00004CXX9 → 3.
    static let ratings = """
        AKM1MP6P0OYPR,0345339703,3,1365811200
        A2SUAM1J3GNN3B,0345339703,5,1365811200
        jane.doe@example.com,B00004CXX9,2,1365811200
        A2SUAM1J3GNN3B,B00004CXX9,4,1365811200
        AKM1MP6P0OYPR,034545104X,2,1365811200
        jane.doe@example.com,034545104X,4,1365811200

        """
    static let users = ["A2SUAM1J3GNN3B", "AKM1MP6P0OYPR", "jane.doe@example.com"]
    static let items = ["0345339703", "034545104X", "B00004CXX9"]

    @Test func textIdsAreNamesInByteOrder() throws {
        let table = try RecordReader.parse(Array(Self.ratings.utf8), name: "amazon.csv", layout: .csv)
        #expect(table.users.names == Self.users && table.items.names == Self.items)
        #expect(table.users.isIdentity == false && table.users.name(2) == "jane.doe@example.com")
        #expect(table.items.index(ofName: "034545104X") == 1 && table.items.index(ofName: "345339703") == nil)
        // Row by row, items ascending: the ratings land where their names say.
        let matrix = table.matrix
        #expect(matrix.rowStarts == [0, 2, 4, 6])
        #expect((0..<6).map { matrix.items[$0] } == [0, 2, 0, 1, 1, 2])
        #expect((0..<6).map { matrix.ratings[$0] } == [5, 4, 3, 2, 4, 2])
        // Whole-number ids stay numbers; the same file with numbers is no map of names.
        let numbers = try RecordReader.parse(Array("3,10,4\n1,10,5\n".utf8), name: "n.csv", layout: .csv)
        #expect(numbers.users.names == nil && numbers.users.ids == [1, 3])
        // A header is still a header, and ids under it may be text.
        let headed = try RecordReader.parse(Array(("userId,asin,rating,time\n" + Self.ratings).utf8), name: "h.csv", layout: .csv)
        #expect(headed.users.names == Self.users && headed.matrix.observedCount == 6)
        // The same records in the other layouts.
        let tabs = Self.ratings.replacingOccurrences(of: ",", with: "\t")
        #expect(try RecordReader.parse(Array(tabs.utf8), name: "t", layout: .triplets).items.names == Self.items)
        // Detected as triplets by the text ids; a matrix with NA marks stays a matrix.
        #expect(RatingFormat.detect(prefix: Array(tabs.utf8), isWholeFile: true) == .triplets)
        #expect(RatingFormat.detect(prefix: Array("5 NA 3\n4 2 NA\n1 2 3\n".utf8), isWholeFile: true) == .dense)
        let dat = Self.ratings.replacingOccurrences(of: ",", with: "::")
        #expect(try RecordReader.parse(Array(dat.utf8), name: "d", layout: .movielensDat).users.names == Self.users)
    }

    /// Whole numbers on the first lines, names later: a file is read again with the
    /// column as text (and its numbers become names as written); a leading zero is text,
    /// so an ISBN keeps its zero.
    @Test func aColumnTurnsToTextWhenANameFollowsNumbers() throws {
        let folder = try Fixtures.scratchFolder()
        let path = try Fixtures.write("1,10,4\n2,10,3\n1,0345339703,5\n2,11,2\n", named: "late.csv", in: folder)
        let table = try RecordReader.read(path: path, layout: .csv)
        #expect(table.users.names == nil && table.users.ids == [1, 2])
        #expect(table.items.names == ["0345339703", "10", "11"])
        #expect(table.matrix.observedCount == 4)
        // The line that turned the column is kept, and every command reading the file warns
        // with it (one typo would otherwise silently turn every id into a name).
        #expect(table.textIdSwitches == [TextIdSwitch(what: "item", line: 3, column: 3, id: "0345339703")])
        #expect(try RecordReader.parse(Array("1,10,4\n".utf8), name: "n.csv", layout: .csv).textIdSwitches.isEmpty)
        #expect(try RecordReader.parse(Array(Self.ratings.utf8), name: "amazon.csv", layout: .csv).textIdSwitches.isEmpty,
                "text from the first record on: nothing turned")
        let both = try RecordReader.parse(Array("1,10,4\n2,11,3\nx7,12,5\n2,B1,2\n".utf8), name: "two.csv", layout: .csv)
        #expect(both.textIdSwitches == [TextIdSwitch(what: "user", line: 3, column: 1, id: "x7"),
                                        TextIdSwitch(what: "item", line: 4, column: 3, id: "B1")])
        let fitted = try CLI.succeeded(["fit", path, "-k", "1", "--seeds", "0"])
        #expect(fitted.stderr == "mixfill: warning: \(path):3:3: item id '0345339703' is text after whole-number item ids, so every item id is read as text (and sorted as text: 10 before 9); if it is a typo, correct that line\n")
        // Standard input cannot be read twice: the message says where the mix can be read.
        let piped = try CLI.runPiped(from: path, ["fit", "-", "--format", "csv", "-k", "1"])
        #expect(piped.status == 2)
        #expect(piped.stderr == "mixfill: error: <stdin>:3:3: item id '0345339703' is text, but the item ids of earlier lines were whole numbers; text ids are read from a file (read twice, the second time as text), or from standard input when the first record's ids are text\n")
        // What a column of text ids accepts does not depend on the lines' order: `9)5` (no
        // letter, no leading zero) is refused before a name and after one alike.
        for text in ["a,1,4\n9)5,2,3\n", "9)5,2,3\na,1,4\n"] {
            #expect(throws: MixFillError.self, "\(text)") { try RecordReader.parse(Array(text.utf8), name: "o.csv", layout: .csv) }
        }
        #expect(throws: MixFillError.badInput(file: "o.csv", line: 2, column: 1, message: "'9)5' is not a user id; this file's user ids are text: whole numbers, or names holding a letter (A2SUAM1J3GNN3B) or starting with 0 (0345339703)")) {
            try RecordReader.parse(Array("a,1,4\n9)5,2,3\n".utf8), name: "o.csv", layout: .csv)
        }
        // A quoted name reads as its content, a doubled quote as one.
        let quoted = try RecordReader.parse(Array("\"say \"\"hi\"\"\",B1,4\nsay,B1,5\n".utf8), name: "q.csv", layout: .csv)
        #expect(quoted.users.names == ["say", "say \"hi\""])
        // A second header in the middle (files joined together) is no record with text ids.
        #expect(throws: MixFillError.badInput(file: "j.csv", line: 3, column: 1, message: "'userId' is not a user id; ids are whole numbers")) {
            try RecordReader.parse(Array("userId,movieId,rating\n1,2,4\nuserId,movieId,rating\n".utf8), name: "j.csv", layout: .csv)
        }
        // The distributed text reader takes numbers only, and says to convert to binary.
        var parser = RecordLineParser(layout: .csv, name: "my ratings.csv")
        parser.allowsText = false
        #expect(throws: MixFillError.badInput(file: "my ratings.csv", line: 1, column: 1, message: "user id 'A2SUAM1J3GNN3B' is text; a --distributed fit reads text ids from a binary file: convert this one first (mixfill convert 'my ratings.csv' ratings.mfr) and fit that")) {
            try Array("A2SUAM1J3GNN3B,1,4\n".utf8).withUnsafeBufferPointer { (buffer) throws(MixFillError) in try parser.consume(buffer) }
        }
    }

    @Test func modelFilesKeepTheNamesAndTheFingerprintSeesThem() throws {
        let table = try RecordReader.parse(Array(Self.ratings.utf8), name: "amazon.csv", layout: .csv)
        let other = Self.ratings.replacingOccurrences(of: "jane.doe@example.com", with: "jane.roe@example.com")
        let renamed = try RecordReader.parse(Array(other.utf8), name: "amazon.csv", layout: .csv)
        let input = RatingInput(storage: .records(table), format: .csv)
        #expect(input.fingerprint != RatingInput(storage: .records(renamed), format: .csv).fingerprint)
        let folder = try Fixtures.scratchFolder()
        let data = try Fixtures.write(Self.ratings, named: "amazon.csv", in: folder)
        for family in ["course", "mppca"] {
            let model = folder + "/\(family).json"
            _ = try CLI.succeeded(["fit", data, "--family", family, "-k", "1", "--model-out", model])
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: model))) as? [String: Any]
            #expect(json?["user_ids"] as? [String] == Self.users && json?["item_ids"] as? [String] == Self.items, "\(family)")
            let file = try ModelFile.read(path: model)
            #expect(file.users == table.users && file.items == table.items, "\(family)")
        }
    }

    /// predict, recommend (one user, --all-users, fold-in), fill --pairs and convert with
    /// text ids. A K = 1 course model scores an item by its mean rating, so every number
    /// is known.
    @Test func servingCommandsSpeakTheNames() throws {
        let folder = try Fixtures.scratchFolder()
        let data = try Fixtures.write(Self.ratings, named: "amazon.csv", in: folder)
        let model = folder + "/m.json"
        _ = try CLI.succeeded(["fit", data, "-k", "1", "--seeds", "0", "--model-out", model])

        let predict = try CLI.succeeded(["predict", "--model", model, "--user", "jane.doe@example.com", "--item-ids", "0345339703,B00004CXX9,345339703"])
        #expect(predict.stdout == "jane.doe@example.com 0345339703 4\njane.doe@example.com B00004CXX9 3\njane.doe@example.com 345339703 3.3333333333333335\n")

        let json = try CLI.succeeded(["recommend", "--model", model, "--user", "AKM1MP6P0OYPR", "--json"])
        let report = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(report?["user"] as? String == "AKM1MP6P0OYPR")
        let entries = report?["recommendations"] as? [[String: Any]]
        #expect(entries?.count == 1 && entries?.first?["item"] as? String == "B00004CXX9" && entries?.first?["score"] as? Double == 3)

        let rows = try CLI.succeeded(["recommend", "--model", model, "--all-users", "--top", "1", "--out-format", "csv"])
        #expect(rows.stdout == "user,rank,item,score\nA2SUAM1J3GNN3B,1,034545104X,3\nAKM1MP6P0OYPR,1,B00004CXX9,3\njane.doe@example.com,1,0345339703,4\n")

        let folded = try CLI.succeeded(["recommend", "--model", model, "--ratings", "0345339703:5,B00004CXX9:1", "--top", "1", "--json"])
        let foldedReport = try JSONSerialization.jsonObject(with: Data(folded.stdout.utf8)) as? [String: Any]
        #expect((foldedReport?["recommendations"] as? [[String: Any]])?.first?["item"] as? String == "034545104X")

        let pairs = try Fixtures.write("jane.doe@example.com B00004CXX9\nnew.user 0345339703\n", named: "pairs.txt", in: folder)
        let filled = folder + "/filled.tsv"
        _ = try CLI.succeeded(["fill", data, "--model", model, "--pairs", pairs, "--out", filled])
        #expect(try String(contentsOfFile: filled, encoding: .utf8) == "jane.doe@example.com\tB00004CXX9\t2\nnew.user\t0345339703\t4\n")

        // A model with text ids takes any text as an id; one with numbers still wants numbers.
        let numbers = try Fixtures.write("1,10,4\n2,10,3\n", named: "n.csv", in: folder)
        _ = try CLI.succeeded(["fit", numbers, "-k", "1", "--model-out", folder + "/n.json"])
        #expect(try CLI.usageFailure(["predict", "--model", folder + "/n.json", "--user", "AKM1MP6P0OYPR"])
            == "mixfill: error: --user: 'AKM1MP6P0OYPR' is not a user id; the model's user ids are whole numbers")

        // Converted to CSV and back: the same table; a name with a comma is quoted.
        let comma = try Fixtures.write("\"Doe, Jane\",B1,4\nA2,B1,5\n", named: "comma.csv", in: folder)
        let converted = folder + "/converted.csv"
        _ = try CLI.succeeded(["convert", comma, converted, "--to", "csv"])
        #expect(try String(contentsOfFile: converted, encoding: .utf8) == "userId,itemId,rating\nA2,B1,5\n\"Doe, Jane\",B1,4\n")
        #expect(try RecordReader.read(path: converted, layout: .csv).users.names == ["A2", "Doe, Jane"])
        // Semicolons in a name are quoted too: unquoted, `a;b;c;d,B1,4` first would make
        // the file read as `;`-separated.
        let semicolons = try Fixtures.write("a;b;c;d\tB1\t4\n", named: "semicolons.tsv", in: folder)
        _ = try CLI.succeeded(["convert", semicolons, converted, "--format", "triplets", "--to", "csv"])
        #expect(try String(contentsOfFile: converted, encoding: .utf8) == "userId,itemId,rating\n\"a;b;c;d\",B1,4\n")
        #expect(try RecordReader.read(path: converted, layout: .csv).users.names == ["a;b;c;d"])

        // The binary file keeps the names (version 2): the same table and fingerprint, and
        // a fit of it is the fit of the text.
        let binary = folder + "/amazon.mfr"
        _ = try CLI.succeeded(["convert", data, binary])
        let fromText = try RatingInput.load(path: data)
        let fromBinary = try RatingInput.load(path: binary)
        #expect(fromBinary.table == fromText.table && fromBinary.fingerprint == fromText.fingerprint)
        func best(_ path: String) throws -> Double? {
            let json = try JSONSerialization.jsonObject(with: Data(try CLI.succeeded(["fit", path, "-k", "2", "--json"]).stdout.utf8)) as? [String: Any]
            return ((json?["fits"] as? [[String: Any]])?.first?["best"] as? [String: Any])?["log_likelihood"] as? Double
        }
        let textBest = try best(data)
        let binaryBest = try best(binary)
        #expect(textBest != nil && textBest == binaryBest)
    }

    /// eval --test with text ids on both sides, and a test file whose item column holds
    /// only whole numbers against training names: matched by how the ids are written.
    @Test func heldOutRecordsMatchByName() throws {
        let training = try RecordReader.parse(Array(Self.ratings.utf8), name: "train.csv", layout: .csv)
        let test = try RecordReader.parse(Array("AKM1MP6P0OYPR,B00004CXX9,4\nnew,0345339703,5\nA2SUAM1J3GNN3B,7,1\n".utf8),
                                          name: "test.csv", layout: .csv)
        #expect(test.items.names == ["0345339703", "7", "B00004CXX9"])
        let result = HeldOutSplits.match(test: test.matrix.indexedRatings, testUsers: test.users, testItems: test.items,
                                         trainingUsers: training.users, trainingItems: training.items) { training.matrix.contains(user: $0, item: $1) }
        #expect(result.matched == [IndexedRating(user: 1, item: 2, rating: 4)])
        #expect(result.unmatched.unknownUserCount == 1 && result.unmatched.unknownItemCount == 1)
        let numbersOnly = try RecordReader.parse(Array("AKM1MP6P0OYPR,10,4\n".utf8), name: "n.csv", layout: .csv)
        let ten = try RecordReader.parse(Array("u,10,4\nv,B2,3\n".utf8), name: "t.csv", layout: .csv)
        #expect(numbersOnly.items.names == nil && ten.items.names == ["10", "B2"])
        #expect(numbersOnly.items.indices(in: ten.items) == [0])
    }
}
