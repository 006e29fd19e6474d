import Foundation
@testable import MixFill
@testable import MixFillTools
import Testing

/// Issue 6's bad-input cases for rating records (triplets, CSV, the Netflix layout, the
/// binary rating file), run through the CLI where a user meets them: each either reads
/// as documented or gives one line naming file:line:column (or the option), exit code 2,
/// and writes nothing. (The dense matrix's cases are in BadInputTests, the readers' unit
/// cases in RecordReaderTests.)
@Suite(.serialized) struct RecordBadInputTests {
    /// The course's 20 × 5 test matrix as CSV records with ids of our own.
    static let smallCSV: String = {
        guard let matrix = try? Fixtures.load(Fixtures.smallIncomplete) else { return "" }
        var text = "userId,movieId,rating,timestamp\n"
        for user in 0..<matrix.userCount {
            for item in 0..<matrix.itemCount where matrix[user, item] != 0 {
                text += "\(10 + user),\(500 + item),\(Int(matrix[user, item])),97\(user)\n"
            }
        }
        return text
    }()

    /// seed, log-likelihood and iteration count of every run of `fit --json`.
    func runs(_ stdout: String) throws -> [[String]] {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any])
        let fits = try #require(object["fits"] as? [[String: Any]])
        return try fits.flatMap { fit in
            try #require(fit["runs"] as? [[String: Any]]).map { run in
                ["seed", "log_likelihood", "iterations"].map { "\(run[$0] ?? "")" }
            }
        }
    }

    // MARK: Truncated files and binary garbage

    @Test func aTruncatedRecordFileNamesTheCutLine() throws {
        let folder = try Fixtures.scratchFolder()
        let text = Self.smallCSV
        // Cut after the item id of line 6 ("11,501,5,971").
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let csv = try Fixtures.write(lines[0..<5].joined(separator: "\n") + "\n" + lines[5].prefix(6), named: "cut.csv", in: folder)
        #expect(try CLI.usageFailure(["fit", csv, "-k", "1"])
            == "mixfill: error: \(csv):6:7: line has 2 fields; a CSV line is 'user,item,rating[,timestamp]'")
        let netflix = try Fixtures.write("1:\n1488844,3,2005-09-06\n822109", named: "cut.txt", in: folder)
        #expect(try CLI.usageFailure(["fit", netflix, "-k", "1"])
            == "mixfill: error: \(netflix):3:7: line has 1 field; after a 'movieId:' line each line is 'userId,rating[,date]'")
        let triplets = try Fixtures.write("1 10 4\n2 10 3\n3 1", named: "cut.tsv", in: folder)
        #expect(try CLI.usageFailure(["fit", triplets, "--format", "triplets", "-k", "1"])
            == "mixfill: error: \(triplets):3:4: line has 2 fields; a triplets line is 'user item rating [timestamp]' separated by spaces or tabs")
        // A binary rating file cut short.
        let whole = try Fixtures.write(text, named: "whole.csv", in: folder)
        #expect(try CLI.run(["convert", whole, folder + "/whole.mfr"]).status == 0)
        let binary = try #require(fileBytes(folder + "/whole.mfr"))
        try Data(binary.prefix(binary.count - 100)).write(to: URL(fileURLWithPath: folder + "/cut.mfr"))
        #expect(try CLI.usageFailure(["fit", folder + "/cut.mfr", "-k", "1"])
            == "mixfill: error: \(folder)/cut.mfr: the ratings section lies outside the file or has the wrong size (the file is truncated or damaged); convert the original file again with 'mixfill convert'")
    }

    @Test func binaryGarbageReadAsRecordsIsRefusedAtItsFirstByte() throws {
        let folder = try Fixtures.scratchFolder()
        // An ELF header, as when a program is given by mistake; a newline so that the
        // second line would be read if the first were taken for a header.
        let path = folder + "/garbage.bin"
        try Data([0x7F, 0x45, 0x4C, 0x46, 0x02, 0x01, 0x00, 0xFF, 0x0A, 0x31, 0x2C, 0x32, 0x2C, 0x33, 0x0A])
            .write(to: URL(fileURLWithPath: path))
        #expect(try CLI.usageFailure(["fit", path, "--format", "csv", "-k", "1"])
            == "mixfill: error: \(path):1:1: '\\x7FELF\\x02\\x01\\x00\\xFF' is not a user id; ids are whole numbers")
        #expect(try CLI.usageFailure(["fit", path, "--format", "triplets", "-k", "1"])
            == "mixfill: error: \(path):1:1: '\\x7FELF\\x02\\x01\\x00\\xFF' is not a user id; ids are whole numbers")
        #expect(try CLI.usageFailure(["fit", path, "--format", "netflix", "-k", "1"])
            == "mixfill: error: \(path):1:1: rating line before any 'movieId:' line; a Netflix Prize file starts each movie's block with a line like '1:'")
        #expect(try CLI.usageFailure(["fit", path, "--format", "binary", "-k", "1"])
            == "mixfill: error: \(path): is too short for a MixFill binary rating file (15 bytes); convert the original file again with 'mixfill convert'")
    }

    /// A compressed file or an archive is refused as what it is, by its first bytes, with
    /// how to decompress it: detected or under any --format, from a file or a pipe, as data
    /// or as --pairs. (The bytes are each format's magic number and a text line after it,
    /// so a reader that missed the magic would fail elsewhere, with another message.)
    @Test func compressedFilesAndArchivesAreRefusedNamingWhatToDo() throws {
        let folder = try Fixtures.scratchFolder()
        let tail = Array("\n1,10,4\n2,10,3\n".utf8)
        func write(_ magic: [UInt8], _ name: String) throws -> String {
            let path = folder + "/" + name
            try Data(magic + [0x08, 0x00, 0x41, 0x42] + tail).write(to: URL(fileURLWithPath: path))
            return path
        }
        let gz = try write([0x1F, 0x8B], "r.csv.gz")
        let gzipped = "mixfill: error: \(gz): is gzip-compressed, which mixfill does not read; decompress it first (gunzip -k \(gz), then give \(folder)/r.csv), or give <(gunzip -c \(gz)) in its place"
        #expect(try CLI.usageFailure(["fit", gz, "-k", "1"]) == gzipped)
        for format in ["csv", "triplets", "netflix", "movielens-dat", "dense", "binary"] {
            #expect(try CLI.usageFailure(["fit", gz, "--format", format, "-k", "1"]) == gzipped, "--format \(format)")
        }
        let zip = try write([0x50, 0x4B, 0x03, 0x04], "ml-latest-small.zip")
        #expect(try CLI.usageFailure(["fit", zip, "-k", "1"])
                == "mixfill: error: \(zip): is a zip archive, which mixfill does not read; unzip it (unzip \(zip)) and give the file inside, e.g. ml-latest-small/ratings.csv from MovieLens's ml-latest-small.zip")
        let bz2 = try write(Array("BZh9".utf8), "r.csv.bz2")
        #expect(try CLI.usageFailure(["eval", bz2, "--folds", "2", "--models", "mean"])
                == "mixfill: error: \(bz2): is bzip2-compressed, which mixfill does not read; decompress it first (bunzip2 -k \(bz2), then give \(folder)/r.csv), or give <(bunzip2 -c \(bz2)) in its place")
        let xz = try write([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00], "r.dat.xz")
        #expect(try CLI.usageFailure(["fit", xz, "--format", "movielens-dat", "-k", "1"])
                == "mixfill: error: \(xz): is xz-compressed, which mixfill does not read; decompress it first (unxz -k \(xz), then give \(folder)/r.dat), or give <(unxz -c \(xz)) in its place")
        // A name without the tool's suffix is decompressed through -c.
        let zst = try write([0x28, 0xB5, 0x2F, 0xFD], "ratings")
        #expect(try CLI.usageFailure(["convert", zst, folder + "/r.mfr"])
                == "mixfill: error: \(zst): is zstd-compressed, which mixfill does not read; decompress it first (unzstd -c \(zst) > \(zst).txt, then give that), or give <(unzstd -c \(zst)) in its place")
        #expect(!FileManager.default.fileExists(atPath: folder + "/r.mfr"))
        // Standard input and a pipe by path: decompress on the way in.
        let piped = try CLI.runPiped(from: gz, ["fit", "-", "-k", "1"])
        #expect(piped.status == 2 && piped.stderr == "mixfill: error: <stdin>: is gzip-compressed, which mixfill does not read; decompress it on the way in, e.g. gunzip -c ratings.gz | mixfill …\n", "\(piped.stderr)")
        let pipedCSV = try CLI.runPiped(from: gz, ["fit", "-", "--format", "csv", "-k", "1"])
        #expect(pipedCSV.status == 2 && pipedCSV.stderr == piped.stderr, "\(pipedCSV.stderr)")
        let byPath = try CLI.runWithPipe(from: zip, ["fit", CLI.pipePath, "-k", "1"])
        #expect(byPath.status == 2 && byPath.stderr == "mixfill: error: /dev/fd/3: is a zip archive, which mixfill does not read; unzip it and give the file inside, e.g. ml-latest-small/ratings.csv from MovieLens's ml-latest-small.zip\n", "\(byPath.stderr)")
        // Other inputs read the same way: a pair list, a gold matrix.
        let data = try Fixtures.write(InputFormatCLITests.ratingsCSV, named: "ok.csv", in: folder)
        #expect(try CLI.run(["fit", data, "-k", "1", "--seeds", "0", "--model-out", folder + "/m.json"]).status == 0)
        #expect(try CLI.usageFailure(["fill", data, "--model", folder + "/m.json", "--pairs", gz, "--out", folder + "/o.tsv"]) == gzipped)
        #expect(try CLI.usageFailure(["predict", "--model", folder + "/m.json", "--pairs", gz]) == gzipped)
        #expect(try CLI.usageFailure(["fit", "data/test_incomplete.txt", "-k", "1", "--gold", gz]) == gzipped)
        // "BZh" without a block size is no bzip2 stream: a CSV header may start so.
        #expect(RatingFormat.compressedInputError(prefix: Array("BZh,item,rating\n".utf8), path: "h.csv") == nil)
        #expect(RatingFormat.compressedInputError(prefix: [0x1F], path: "short") == nil)
    }

    // MARK: BOM, CRLF, trailing separators

    @Test func byteOrderMarkCRLFAndTrailingSeparatorsReadLikeThePlainFile() throws {
        let folder = try Fixtures.scratchFolder()
        let plain = try Fixtures.write(Self.smallCSV, named: "plain.csv", in: folder)
        // A spreadsheet's export: BOM, CRLF, blanks around fields, an empty last field
        // where the timestamp would be.
        let decorated = "\u{FEFF}" + Self.smallCSV.split(separator: "\n")
            .map { $0.split(separator: ",").prefix(3).joined(separator: " , ") + "," }.joined(separator: "\r\n") + "\r\n"
        let csv = try Fixtures.write(decorated, named: "decorated.csv", in: folder)
        let tsv = try Fixtures.write("\u{FEFF}" + Self.smallCSV.split(separator: "\n").dropFirst()
            .map { $0.replacingOccurrences(of: ",", with: "\t") + "\t" }.joined(separator: "\r\n") + "\r\n", named: "decorated.tsv", in: folder)
        let reference = try CLI.run(["fit", plain, "-k", "3", "--seeds", "0-1", "--json"])
        #expect(reference.status == 0 && reference.stderr.isEmpty, "\(reference.stderr)")
        for path in [csv, tsv] {
            let outcome = try CLI.run(["fit", path, "-k", "3", "--seeds", "0-1", "--json"])
            #expect(outcome.status == 0 && outcome.stderr.isEmpty, "\(path): \(outcome.stderr)")
            #expect(try runs(outcome.stdout) == runs(reference.stdout), "\(path)")
        }
        #expect(try RecordReader.read(path: csv, layout: .csv) == RecordReader.read(path: plain, layout: .csv))
        #expect(try RecordReader.read(path: tsv, layout: .triplets) == RecordReader.read(path: plain, layout: .csv))
        // The Netflix layout: BOM, CRLF, a trailing comma where the date would be.
        let netflix = try Fixtures.write("\u{FEFF}7:\r\n1,4,2005-01-01\r\n2,3,\r\n", named: "n.txt", in: folder)
        let table = try RecordReader.read(path: netflix, layout: .netflix)
        #expect(table.users.ids == [1, 2] && table.items.ids == [7] && table.matrix.observedCount == 2)
        // A separator after the last field a layout has opens a field too many.
        let afterDate = try Fixtures.write("7:\n1,4,2005-01-01,\n", named: "after-date.txt", in: folder)
        #expect(try CLI.usageFailure(["fit", afterDate, "-k", "1"])
            == "mixfill: error: \(afterDate):2:16: line has more than 3 fields; after a 'movieId:' line each line is 'userId,rating[,date]'")
        let extra = try Fixtures.write("1,2,3,4,,\n", named: "extra.csv", in: folder)
        #expect(try CLI.usageFailure(["fit", extra, "-k", "1"])
            == "mixfill: error: \(extra):1:9: line has more than 4 fields; a CSV line is 'user,item,rating[,timestamp]'")
    }

    // MARK: NaN, Inf, huge ratings

    @Test func notANumberInfinityAndHugeRatingsInEveryLayout() throws {
        let folder = try Fixtures.scratchFolder()
        let cases: [(name: String, text: String, place: String, message: String)] = [
            ("nan.csv", "userId,movieId,rating\n1,1,4\n1,2,NaN\n", "3:5", "'NaN' is not a finite rating; ratings must be finite decimal numbers"),
            ("inf.tsv", "1 1 4\n1 2 -inf\n", "2:5", "'-inf' is not a finite rating; ratings must be finite decimal numbers"),
            ("inf.txt", "3:\n1,Infinity,2005-01-01\n", "2:3", "'Infinity' is not a finite rating; ratings must be finite decimal numbers"),
            ("huge.csv", "userId,movieId,rating\n1,1,4\n1,2,1e200\n2,1,3\n", "3:5",
             "rating '1e200' is too large; ratings must be at most 1e100 (their squares are summed), rescale them"),
            ("huge.tsv", "1 1 4\n1 2 -1e200\n2 1 3\n", "2:5",
             "rating '-1e200' is too large in magnitude; ratings must lie within ±1e100 (their squares are summed), rescale them"),
            ("huge.txt", "3:\n1,4\n2,1.5e101\n", "3:3",
             "rating '1.5e101' is too large; ratings must be at most 1e100 (their squares are summed), rescale them"),
        ]
        for item in cases {
            let path = try Fixtures.write(item.text, named: item.name, in: folder)
            let format = item.name.hasSuffix(".tsv") ? "triplets" : item.name.hasSuffix(".txt") ? "netflix" : "csv"
            #expect(try CLI.usageFailure(["fit", path, "--format", format, "-k", "1", "--model-out", folder + "/m.json"])
                == "mixfill: error: \(path):\(item.place): \(item.message)")
        }
        #expect(!FileManager.default.fileExists(atPath: folder + "/m.json"))
        // 1e100 itself is a rating: the fit runs, its log-likelihood finite.
        let edge = try Fixtures.write("1,1,1e100\n1,2,-1e100\n2,1,3\n2,2,1e-300\n", named: "edge.csv", in: folder)
        let fit = try CLI.run(["fit", edge, "-k", "2", "--seeds", "0", "--json"])
        #expect(fit.status == 0, "\(fit.stderr)")
        #expect(try runs(fit.stdout).allSatisfy { Double($0[1])?.isFinite == true })
        // A binary rating file holding a rating beyond the limit (not one MixFill writes
        // from text, which the readers refuse) is refused as invalid.
        let matrix = SparseRatingMatrix(userCount: 1, itemCount: 2, rowStarts: [0, 2],
                                        items: .narrow([0, 1]), ratings: .exact([3, 1e200]))
        try BinaryRatingFile.write(RatingTable(matrix: matrix, users: IdMap(sortedIds: [1]), items: IdMap(sortedIds: [1, 2])),
                                   to: folder + "/huge.mfr")
        #expect(try CLI.usageFailure(["fit", folder + "/huge.mfr", "-k", "1"])
            == "mixfill: error: \(folder)/huge.mfr: its checksums match but a rating is not finite or beyond ±1e100; it was not written by MixFill; convert the original file again with 'mixfill convert'")
        // Fold-in ratings follow the same rule (before: NaN predictions).
        #expect(try CLI.run(["fit", "data/test_incomplete.txt", "-k", "2", "--seeds", "0", "--model-out", folder + "/t.json"]).status == 0)
        #expect(try CLI.usageFailure(["predict", "--model", folder + "/t.json", "--user", "99", "--items", "2", "--ratings", "0:1e200,1:3"])
            == "mixfill: error: --ratings: rating '1e200' is too large; ratings must be at most 1e100 (their squares are summed), rescale them (see 'mixfill help')")
        // Negative ids and ratings after a space are values, not options: an unknown item -1
        // gets the documented fallback (the mean training rating) with a warning.
        let negative = try CLI.run(["predict", "--model", folder + "/t.json", "--user", "99", "--item-ids", "-1,2", "--ratings", "-1:5,1:3"])
        #expect(negative.status == 0 && negative.stdout.hasPrefix("99 -1 3.345679012345679\n"), "\(negative.stderr)")
        #expect(negative.stderr.contains("--ratings: item -1 is not in the model; its rating is left out of the fold-in"))
        let ratingsFile = try Fixtures.write("0 4\n1 -1e308\n", named: "r.txt", in: folder)
        #expect(try CLI.usageFailure(["recommend", "--model", folder + "/t.json", "--ratings-file", ratingsFile])
            == "mixfill: error: \(ratingsFile):2:3: rating '-1e308' is too large in magnitude; ratings must lie within ±1e100 (their squares are summed), rescale them")
    }

    // MARK: The declared rating scale

    @Test func ratingsOutsideTheDeclaredScaleInEveryFormat() throws {
        let folder = try Fixtures.scratchFolder()
        let csv = try Fixtures.write("userId,movieId,rating\n1,1,4\n1,2,5.5\n2,1,0.5\n", named: "r.csv", in: folder)
        let tsv = try Fixtures.write("1 1 4\n1 2 3\n2 1 -1\n", named: "r.tsv", in: folder)
        let netflix = try Fixtures.write("9:\n1,4,2005-01-01\n2,0,2005-01-02\n", named: "r.txt", in: folder)
        let dense = try Fixtures.write("4 0 3\n0 5 6\n", named: "dense.txt", in: folder)
        let message = "is outside the declared scale (--rating-scale 1-5); correct the rating or declare the scale the data use"
        #expect(try CLI.usageFailure(["fit", csv, "--rating-scale", "1-5", "-k", "1"])
            == "mixfill: error: \(csv):3:5: rating '5.5' \(message)")
        #expect(try CLI.usageFailure(["fit", tsv, "--format", "triplets", "--rating-scale", "1-5", "-k", "1"])
            == "mixfill: error: \(tsv):3:5: rating '-1' \(message)")
        #expect(try CLI.usageFailure(["fit", netflix, "--rating-scale", "1-5", "-k", "1"])
            == "mixfill: error: \(netflix):3:3: rating '0' \(message)")
        // Dense: 0 is a missing entry, never checked; 6 is a rating.
        #expect(try CLI.usageFailure(["fit", dense, "--rating-scale", "1-5", "-k", "1"])
            == "mixfill: error: \(dense):2:5: rating '6' \(message)")
        // A binary file has no lines: the user and item ids say where.
        #expect(try CLI.run(["convert", csv, folder + "/r.mfr"]).status == 0)
        #expect(try CLI.usageFailure(["fit", folder + "/r.mfr", "--rating-scale", "1-5", "-k", "1"])
            == "mixfill: error: \(folder)/r.mfr: user 1, item 2: rating '5.5' \(message)")
        // The commands that read training data all take it; a scale that fits reads as without it.
        #expect(try CLI.usageFailure(["eval", csv, "--holdout", "0.2", "--rating-scale", "1-5"])
            == "mixfill: error: \(csv):3:5: rating '5.5' \(message)")
        #expect(try CLI.usageFailure(["select", dense, "--rating-scale", "1-5", "-k", "1"])
            == "mixfill: error: \(dense):2:5: rating '6' \(message)")
        #expect(try CLI.usageFailure(["convert", csv, folder + "/out.mfr", "--rating-scale", "1-5"])
            == "mixfill: error: \(csv):3:5: rating '5.5' \(message)")
        #expect(!FileManager.default.fileExists(atPath: folder + "/out.mfr"))
        let within = try CLI.run(["fit", csv, "--rating-scale", "0.5-5.5", "-k", "1", "--seeds", "0", "--json"])
        let without = try CLI.run(["fit", csv, "-k", "1", "--seeds", "0", "--json"])
        #expect(within.status == 0 && without.status == 0)
        #expect(try runs(within.stdout) == runs(without.stdout))
        #expect(try CLI.run(["fit", tsv, "--format", "triplets", "--rating-scale=-1-4", "-k", "1", "--seeds", "0"]).status == 0)
        // A negative MIN after a space reads as after '=' (not as the next option).
        #expect(try CLI.run(["fit", tsv, "--format", "triplets", "--rating-scale", "-1-4", "-k", "1", "--seeds", "0"]).status == 0)
        // The option itself.
        let hint = "give the lowest and highest rating as MIN-MAX, e.g. 1-5 or 0.5-5 (see 'mixfill help')"
        #expect(try CLI.usageFailure(["fit", csv, "--rating-scale", "5-1"])
            == "mixfill: error: --rating-scale: '5-1' is not a rating scale: its lowest rating must be below its highest; \(hint)")
        #expect(try CLI.usageFailure(["fit", csv, "--rating-scale", "five"])
            == "mixfill: error: --rating-scale: 'five' is not a rating scale; \(hint)")
        #expect(try CLI.usageFailure(["fit", csv, "--rating-scale", "0-1e200"])
            == "mixfill: error: --rating-scale: '0-1e200' reaches beyond ±1e100, the largest ratings MixFill reads; \(hint)")
    }

    @Test func ratingScalesParse() throws {
        func parse(_ text: String) throws(MixFillError) -> RatingScale { try RatingScale.parse(text, option: "s") }
        #expect(try parse("1-5") == RatingScale(minimum: 1, maximum: 5))
        #expect(try parse(" 0.5 - 5 ") == RatingScale(minimum: 0.5, maximum: 5))
        #expect(try parse("-10--2.5") == RatingScale(minimum: -10, maximum: -2.5))
        #expect(try parse("1e-3-1E+1") == RatingScale(minimum: 0.001, maximum: 10))
        #expect(try parse("-1-1").text == "-1-1")
        #expect(try parse("0.5-5").text == "0.5-5")
        for bad in ["", "5", "1-", "-5", "1-5-7", "a-b", "nan-5", "1-inf", "3-3", "0x1-5"] {
            #expect(throws: MixFillError.self, "\(bad)") { try parse(bad) }
        }
        // A reader's rule: the scale's ends are ratings, just outside is not.
        let rules = RatingRules(scale: try parse("1-5"))
        #expect(rules.violation(1, token: "1") == nil && rules.violation(5, token: "5") == nil)
        #expect(rules.violation(5.000000001, token: "5.000000001") != nil && rules.violation(0.999, token: "0.999") != nil)
        #expect(RatingRules.standard.violation(-1e100, token: "") == nil && RatingRules.standard.violation(1e100, token: "") == nil)
        #expect(RatingRules.standard.violation(1e100.nextUp, token: "") != nil)
    }

    // MARK: Duplicate pairs, ids

    @Test func duplicatePairsKeepTheLastRatingWithAWarning() throws {
        let folder = try Fixtures.scratchFolder()
        let data = try Fixtures.write("userId,movieId,rating\n1,10,5\n2,10,4\n1,10,2\n1,20,3\n2,20,1\n1,10,1.5\n",
                                      named: "dup.csv", in: folder)
        let outcome = try CLI.run(["fit", data, "-k", "1", "--seeds", "0", "--json", "--model-out", folder + "/m.json"])
        #expect(outcome.status == 0)
        #expect(outcome.stderr == "mixfill: warning: \(data): 2 records repeated an earlier (user, item) pair; the last rating in the file was kept for each\n")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any])
        #expect((object["data"] as? [String: Any])?["observed"] as? Int == 4)
        // The kept ratings are the last ones: the model's range and mean say so.
        let model = try ModelFile.read(path: folder + "/m.json")
        #expect(model.training?.ratingScale == RatingScale(minimum: 1, maximum: 4))
        #expect(model.training?.ratingMean == (1.5 + 3 + 4 + 1) / 4)
    }

    @Test func idsBeyond32BitsRoundTripAndIdsBeyond64BitsAreRefused() throws {
        let folder = try Fixtures.scratchFolder()
        let big = Int64.max, low = Int64.min, wide: Int64 = 4_294_967_297
        let data = try Fixtures.write("""
            \(big),\(wide),4
            \(big),\(low),3
            4294967296,\(wide),3
            4294967296,\(low),1
            5,\(wide),2
            """, named: "big.csv", in: folder)
        #expect(try CLI.run(["fit", data, "-k", "2", "--seeds", "0", "--model-out", folder + "/m.json"]).status == 0)
        let model = try ModelFile.read(path: folder + "/m.json")
        #expect(model.users.ids == [5, 4_294_967_296, big] && model.items.ids == [low, wide])
        let pairs = try Fixtures.write("\(big) \(low)\n4294967296 \(wide)\n", named: "pairs.txt", in: folder)
        let fill = try CLI.run(["fill", data, "--model", folder + "/m.json", "--pairs", pairs, "--out", folder + "/p.tsv"])
        #expect(fill.status == 0, "\(fill.stderr)")
        #expect(try String(contentsOfFile: folder + "/p.tsv", encoding: .utf8) == "\(big)\t\(low)\t3\n4294967296\t\(wide)\t3\n")
        let predict = try CLI.run(["predict", "--model", folder + "/m.json", "--user", "\(big)", "--items=\(low),\(wide)"])
        #expect(predict.status == 0, "\(predict.stderr)")
        #expect(predict.stdout.split(separator: "\n").map { $0.split(separator: " ").prefix(2).joined(separator: " ") }
            == ["\(big) \(low)", "\(big) \(wide)"])

        // 2⁶³: one past the largest id, on the first line (which is no header) and in a pair list.
        let over = try Fixtures.write("9223372036854775808,1,4\n", named: "over.csv", in: folder)
        #expect(try CLI.usageFailure(["fit", over, "-k", "1"])
            == "mixfill: error: \(over):1:1: user id '9223372036854775808' does not fit in 64 bits; ids must lie within ±9223372036854775807")
        let overPairs = try Fixtures.write("\(big) -9223372036854775809\n", named: "over.txt", in: folder)
        #expect(try CLI.usageFailure(["fill", data, "--model", folder + "/m.json", "--pairs", overPairs, "--out", folder + "/q.tsv"])
            == "mixfill: error: \(overPairs):1:21: item id '-9223372036854775809' does not fit in 64 bits; ids must lie within ±9223372036854775807")
        #expect(!FileManager.default.fileExists(atPath: folder + "/q.tsv"))
        // A fractional id on the first line is not a header either.
        let fractional = try Fixtures.write("1.5,1,4\n2,1,3\n", named: "fractional.csv", in: folder)
        #expect(try CLI.usageFailure(["fit", fractional, "-k", "1"])
            == "mixfill: error: \(fractional):1:1: '1.5' is not a user id; ids are whole numbers")
        // Nor a first record missing its user: a header has a name in it.
        let missingUser = try Fixtures.write(",1,3\n1,2,4\n", named: "missing.csv", in: folder)
        #expect(try CLI.usageFailure(["fit", missingUser, "-k", "1"])
            == "mixfill: error: \(missingUser):1:1: the user id field is empty; ids are whole numbers")
        let named = try Fixtures.write(",userId,movieId\n1,2,4\n", named: "named.csv", in: folder)
        #expect(try CLI.run(["fit", named, "-k", "1"]).status == 0)
    }

    // MARK: Users, items, K

    @Test func recordsHaveNoEmptyUsersOrItemsAndKIsBoundedByTheirUsers() throws {
        let folder = try Fixtures.scratchFolder()
        let data = try Fixtures.write(Self.smallCSV, named: "r.csv", in: folder)
        // Every user and item of a record file has a rating: no warnings, unlike the dense
        // matrix with an empty row or column (BadInputTests).
        let fit = try CLI.run(["fit", data, "-k", "2", "--seeds", "0", "--model-out", folder + "/m.json", "--json"])
        #expect(fit.status == 0 && fit.stderr.isEmpty, "\(fit.stderr)")
        let model = try ModelFile.read(path: folder + "/m.json")
        #expect(model.training?.itemRatingCounts.allSatisfy { $0 > 0 } == true)
        #expect(model.users.count == 20)
        #expect(try CLI.usageFailure(["fit", data, "-k", "2,21"])
            == "mixfill: error: -k: K = 21 is more than the 20 users in \(data); choose K ≤ 20")
        #expect(try CLI.usageFailure(["eval", data, "--holdout", "0.2", "--model", "course", "-k", "21"])
            == "mixfill: error: -k: K = 21 is more than the 20 users in \(data); choose K ≤ 20")
        #expect(try CLI.usageFailure(["select", data, "-k", "1-21"])
            == "mixfill: error: -k: K = 21 is more than the 20 users in \(data); choose K ≤ 20")
    }

    @Test func identicalUsersInRecordsFitWithEveryVarianceAtTheFloor() throws {
        let folder = try Fixtures.scratchFolder()
        var text = "userId,movieId,rating\n"
        for user in 1...9 {
            for (item, rating) in [(1, 3), (2, 4), (3, 5), (5, 2)] { text += "\(user),\(item),\(rating)\n" }
        }
        let data = try Fixtures.write(text, named: "same.csv", in: folder)
        let outcome = try CLI.run(["fit", data, "-k", "3", "--seeds", "0-2", "--model-out", folder + "/m.json", "--json"])
        #expect(outcome.status == 0 && outcome.stderr.isEmpty, "\(outcome.stderr)")
        let model = try ModelFile.read(path: folder + "/m.json")
        #expect(model.course.variances == [0.25, 0.25, 0.25])
        // Every user at distance 0 from every mean: LL = n·(−|C_u|/2)·log(2π·0.25).
        let expected = 9 * (-4.0 / 2) * log(2 * Double.pi * 0.25)
        #expect(abs(model.logLikelihood - expected) <= 1e-12 * abs(expected))
        #expect(model.converged)
    }
}
