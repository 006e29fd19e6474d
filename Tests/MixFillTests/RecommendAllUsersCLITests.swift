import Foundation
import MixFill
import Testing

/// `mixfill recommend --all-users` (rows for every training user, TSV or CSV) and
/// `--items` (titles from a MovieLens movies file).
@Suite(.serialized) struct RecommendAllUsersCLITests {
    /// A K = 1 model of `InputFormatCLITests.ratingsDat`. With one component every
    /// posterior is exactly 1, so a score is exactly the item's mean rating, and each
    /// item has two ratings whose mean is a short binary fraction: 10 → 4.5, 20 → 4.5,
    /// 30 → 2.5, 40 → 3.75, 50 → 1.5. So the rows are known exactly.
    static func model() throws -> (folder: String, data: String, model: String) {
        let folder = try Fixtures.scratchFolder()
        let data = try Fixtures.write(InputFormatCLITests.ratingsDat, named: "ratings.dat", in: folder)
        let fit = try CLI.run(["fit", data, "-k", "1", "--seeds", "0", "--model-out", folder + "/m.json"])
        #expect(fit.status == 0, "\(fit.stderr)")
        let file = try ModelFile.read(path: folder + "/m.json")
        #expect(file.course.means == [4.5, 4.5, 2.5, 3.75, 1.5], "the premise of the expected rows")
        return (folder, data, folder + "/m.json")
    }

    /// Each user's two best unrated items; user 4's two are tied at 4.5, the lower id first.
    static let expectedTSV = """
        user\trank\titem\tscore
        1\t1\t40\t3.75
        1\t2\t30\t2.5
        2\t1\t20\t4.5
        2\t2\t50\t1.5
        3\t1\t10\t4.5
        3\t2\t40\t3.75
        4\t1\t10\t4.5
        4\t2\t20\t4.5

        """

    /// A movies.csv as MovieLens writes it: quoted titles with commas and a doubled quote;
    /// one quoted title holds a line break (which TSV rows and tables show as a space);
    /// item 50 has no line.
    static let movies = """
        movieId,title,genres
        10,GoldenEye (1995),Action|Adventure|Thriller
        20,"The ""Money"" Train (1995)",Action|Comedy|Crime|Drama|Thriller
        30,"Shanghai Triad
        (Yao a yao yao dao waipo qiao) (1995)",Crime|Drama
        40,"Cry, the Beloved Country (1995)",Drama

        """

    @Test func allUsersWritesEveryTrainingUsersTopItemsExactly() throws {
        let (folder, _, model) = try Self.model()
        let written = try CLI.run(["recommend", "--model", model, "--all-users", "--top", "2", "--out", folder + "/r.tsv"])
        #expect(written.status == 0 && written.stderr.isEmpty, "\(written.stderr)")
        #expect(written.stdout == "wrote \(folder)/r.tsv: 8 recommendations for 4 users (top 2, tsv)\n")
        #expect(try String(contentsOfFile: folder + "/r.tsv", encoding: .utf8) == Self.expectedTSV)
        // Without --out the rows go to stdout; a .csv name, or --out-format, gives CSV.
        let printed = try CLI.succeeded(["recommend", "--model", model, "--all-users", "--top", "2"])
        #expect(printed.stdout == Self.expectedTSV)
        let csv = Self.expectedTSV.replacingOccurrences(of: "\t", with: ",")
        #expect(try CLI.run(["recommend", "--model", model, "--all-users", "--top", "2", "--out", folder + "/r.csv"]).status == 0)
        #expect(try String(contentsOfFile: folder + "/r.csv", encoding: .utf8) == csv)
        #expect(try CLI.succeeded(["recommend", "--model", model, "--all-users", "--top", "2", "--out-format", "csv"]).stdout == csv)
        // --top larger than what is left: every unrated item once; --min-ratings 3 leaves
        // nothing (every item has two ratings), just the header.
        let all = try CLI.succeeded(["recommend", "--model", model, "--all-users", "--top", "50"]).stdout.split(separator: "\n")
        #expect(all.count == 1 + 3 + 2 + 2 + 3)
        let most = try CLI.run(["recommend", "--model", model, "--all-users", "--top", String(Int.max)])
        #expect(most.status == 0 && most.stdout.split(separator: "\n") == all, "\(most.stderr)")
        let none = try CLI.succeeded(["recommend", "--model", model, "--all-users", "--min-ratings", "3"])
        #expect(none.stdout == "user\trank\titem\tscore\n")
        #expect(none.stderr == "mixfill: warning: --min-ratings: no item of \(model) has 3 training ratings (the most is 2); nothing can be recommended\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasPrefix(".") }.isEmpty)
    }

    /// A whole-number score is written as `predict` and `fill` write it, `2` rather than
    /// `2.0`: with K = 1 every score is an item's mean, here 4 (item 1) and 2 (items 2, 3).
    /// The table for one user keeps its fixed decimals, a display for people.
    @Test func wholeNumberScoresReadAsPredictWritesThem() throws {
        let folder = try Fixtures.scratchFolder()
        let data = try Fixtures.write("userId,movieId,rating\n1,1,4\n1,2,2\n2,1,4\n2,3,2\n", named: "r.csv", in: folder)
        let fit = try CLI.run(["fit", data, "-k", "1", "--seeds", "0", "--model-out", folder + "/m.json"])
        #expect(fit.status == 0, "\(fit.stderr)")
        let model = folder + "/m.json"
        let rows = try CLI.succeeded(["recommend", "--model", model, "--all-users", "--top", "2", "--out", "-"])
        #expect(rows.stdout == "user\trank\titem\tscore\n1\t1\t3\t2\n2\t1\t2\t2\n", "\(rows.stdout)")
        #expect(try CLI.succeeded(["recommend", "--model", model, "--all-users", "--out-format", "csv"]).stdout
                == "user,rank,item,score\n1,1,3,2\n2,1,2,2\n")
        #expect(try CLI.succeeded(["predict", "--model", model, "--user", "1", "--item-ids", "1,3"]).stdout == "1 1 4\n1 3 2\n")
        let table = try CLI.succeeded(["recommend", "--model", model, "--user", "1"])
        #expect(table.stdout.hasSuffix("\n  rank  item  prediction     score\n     1     3      2.0000  2.000000\n"), "\(table.stdout)")
    }

    /// On a K = 3 mixture of a 40-user synthetic set, every user's rows equal what
    /// `recommend --user` prints for them, score for score.
    @Test func allUsersAgreesWithOneUserAtATime() throws {
        let folder = try Fixtures.scratchFolder()
        let synth = try CLI.run(["synth", "--users", "40", "--items", "30", "--ratings", "500", "-k", "3", "--seed", "4", "--out", folder + "/s.tsv"])
        #expect(synth.status == 0, "\(synth.stderr)")
        #expect(try CLI.run(["fit", folder + "/s.tsv", "-k", "3", "--seeds", "0", "--model-out", folder + "/m.json"]).status == 0)
        let rows = try CLI.run(["recommend", "--model", folder + "/m.json", "--all-users", "--top", "4"])
        #expect(rows.status == 0, "\(rows.stderr)")
        let lines = rows.stdout.split(separator: "\n").dropFirst().map { $0.split(separator: "\t").map(String.init) }
        let model = try ModelFile.read(path: folder + "/m.json")
        #expect(Set(lines.map { $0[0] }).isSubset(of: model.users.ids.map(String.init)) && lines.count > 100)
        for user in model.users.ids {
            let single = try CLI.succeeded(["recommend", "--model", folder + "/m.json", "--user", String(user), "--top", "4", "--json"])
            let entries = try #require(try InputFormatCLITests.object(single.stdout)["recommendations"] as? [[String: Any]])
            // The scores as printed: JSONSerialization may round a double's last digit.
            let scores = single.stdout.split(separator: "\n").filter { $0.contains("\"score\" : ") }.map {
                Double($0.split(separator: ":").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "")
            }
            let mine = lines.filter { $0[0] == String(user) }
            #expect(mine.count == entries.count && scores.count == entries.count, "user \(user)")
            for (row, (entry, score)) in zip(mine, zip(entries, scores)) {
                #expect(row[1] == String(entry["rank"] as? Int ?? -1) && row[2] == String(entry["item"] as? Int ?? -1), "user \(user)")
                #expect(Double(row[3]) == score, "user \(user): \(row[3])")
            }
        }
    }

    @Test func itemsShowTitlesInRowsTablesAndJSON() throws {
        let (folder, _, model) = try Self.model()
        let movies = try Fixtures.write(Self.movies, named: "movies.csv", in: folder)
        let tsv = try CLI.run(["recommend", "--model", model, "--all-users", "--top", "2", "--items", movies])
        #expect(tsv.status == 0)
        #expect(tsv.stdout == """
            user\trank\titem\tscore\ttitle
            1\t1\t40\t3.75\tCry, the Beloved Country (1995)
            1\t2\t30\t2.5\tShanghai Triad (Yao a yao yao dao waipo qiao) (1995)
            2\t1\t20\t4.5\tThe "Money" Train (1995)
            2\t2\t50\t1.5\t
            3\t1\t10\t4.5\tGoldenEye (1995)
            3\t2\t40\t3.75\tCry, the Beloved Country (1995)
            4\t1\t10\t4.5\tGoldenEye (1995)
            4\t2\t20\t4.5\tThe "Money" Train (1995)

            """)
        #expect(tsv.stderr == "mixfill: warning: \(movies): no title for item 50 recommended; its title is left empty\n")
        let csv = try CLI.run(["recommend", "--model", model, "--all-users", "--top", "1", "--items", movies, "--out", folder + "/r.csv"])
        #expect(csv.status == 0, "\(csv.stderr)")
        #expect(try String(contentsOfFile: folder + "/r.csv", encoding: .utf8) == """
            user,rank,item,score,title
            1,1,40,3.75,"Cry, the Beloved Country (1995)"
            2,1,20,4.5,"The ""Money"" Train (1995)"
            3,1,10,4.5,GoldenEye (1995)
            4,1,10,4.5,GoldenEye (1995)

            """)
        let csvTwo = try CLI.succeeded(["recommend", "--model", model, "--all-users", "--top", "2", "--items", movies, "--out-format", "csv"])
        #expect(csvTwo.stdout.hasPrefix("user,rank,item,score,title\n1,1,40,3.75,\"Cry, the Beloved Country (1995)\"\n1,2,30,2.5,\"Shanghai Triad\n(Yao a yao yao dao waipo qiao) (1995)\"\n2,1,20,4.5,"), "\(csvTwo.stdout)")
        // One user: a title column in the table and a "title" in JSON; a movies.dat too.
        let table = try CLI.succeeded(["recommend", "--model", model, "--user", "1", "--top", "2", "--items", movies])
        #expect(table.stdout.hasSuffix("""
              rank  item  prediction     score  title
                 1    40      3.7500  3.750000  Cry, the Beloved Country (1995)
                 2    30      2.5000  2.500000  Shanghai Triad (Yao a yao yao dao waipo qiao) (1995)

            """), "\(table.stdout)")
        let dat = try Fixtures.write("10::GoldenEye (1995)::Action\n20::Money Train (1995)::Action\n", named: "movies.dat", in: folder)
        let json = try CLI.succeeded(["recommend", "--model", model, "--user", "4", "--top", "2", "--items", dat, "--json"])
        let entries = try #require(try InputFormatCLITests.object(json.stdout)["recommendations"] as? [[String: Any]])
        #expect(entries.map { $0["title"] as? String } == ["GoldenEye (1995)", "Money Train (1995)"])
        let plain = try CLI.succeeded(["recommend", "--model", model, "--user", "4", "--top", "2", "--json"])
        #expect(!plain.stdout.contains("\"title\""))
    }

    @Test func badOptionsAndInputsAreRefusedAndLeaveNoFile() throws {
        let (folder, _, model) = try Self.model()
        #expect(try CLI.usageFailure(["recommend", "--model", model, "--all-users", "--user", "1"])
                == "mixfill: error: --all-users, --user: --all-users recommends for every training user; give one or the other (see 'mixfill help')")
        #expect(try CLI.usageFailure(["recommend", "--model", model, "--all-users", "--ratings", "10:5"])
                .hasPrefix("mixfill: error: --all-users, --ratings, --ratings-file: --all-users recommends for the training users"))
        #expect(try CLI.usageFailure(["recommend", "--model", model, "--all-users", "--json"])
                .hasPrefix("mixfill: error: --json: describes one user; --all-users writes rows"))
        #expect(try CLI.usageFailure(["recommend", "--model", model, "--user", "1", "--out", folder + "/x.tsv"])
                .hasPrefix("mixfill: error: --out: writes the rows of --all-users"))
        #expect(try CLI.usageFailure(["recommend", "--model", model, "--all-users", "--out-format", "xml"])
                .hasPrefix("mixfill: error: The value 'xml' is invalid for '--out-format <FORMAT>'"))

        // --out into a folder that does not exist: a runtime failure before any work, no file.
        let missing = try CLI.run(["recommend", "--model", model, "--all-users", "--out", folder + "/none/r.tsv"])
        #expect(missing.status == 1 && missing.stdout.isEmpty)
        #expect(missing.stderr == "mixfill: error: \(folder)/none/r.tsv: cannot create a file in \(folder)/none: No such file or directory; check that the folder exists and is writable\n")
        #expect(!FileManager.default.fileExists(atPath: folder + "/none"))
        // Training data that is not the model's: refused after --out was opened, and
        // neither the file nor its temporary is left.
        let other = try Fixtures.write(InputFormatCLITests.ratingsDat.replacingOccurrences(of: "4::50::2", with: "4::50::3"), named: "other.dat", in: folder)
        let wrong = try CLI.run(["recommend", "--model", model, "--all-users", "--data", other, "--out", folder + "/r.tsv"])
        #expect(wrong.status == 2 && wrong.stderr.hasPrefix("mixfill: error: \(other): is not the data \(model) was fitted on"), "\(wrong.stderr)")
        let left = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        #expect(left == ["m.json", "other.dat", "ratings.dat"], "\(left)")

        // A malformed movies file: its place, exit 2, nothing written.
        let movies = try Fixtures.write("movieId,title,genres\n10,GoldenEye (1995),Action\n20,\"Money Train (1995),Action\n", named: "movies.csv", in: folder)
        #expect(try CLI.usageFailure(["recommend", "--model", model, "--all-users", "--items", movies, "--out", folder + "/r.tsv"])
                == "mixfill: error: --items: \(movies):3:4: the quoted field that starts here is never closed; end it with '\"' (a '\"' inside a title is written '\"\"')")
        #expect(!FileManager.default.fileExists(atPath: folder + "/r.tsv"))

        // --items names a titles file; one that is missing is named with the option, and
        // one spelled as item ids (as predict's --item-ids takes them) points to predict.
        #expect(try CLI.usageFailure(["recommend", "--model", model, "--user", "1", "--items", folder + "/movies-none.csv"])
                == "mixfill: error: --items: \(folder)/movies-none.csv: no such file; check the path")
        #expect(try CLI.usageFailure(["recommend", "--model", model, "--user", "1", "--items", "1,2"])
                == "mixfill: error: --items: 1,2: no such file; --items takes a file of titles (a MovieLens movies.csv) to show beside the recommendations, not item ids (recommend ranks every item); to predict given items: 'mixfill predict --model \(model) --user 1 --item-ids 1,2'")
        #expect(try CLI.usageFailure(["recommend", "--model", model, "--all-users", "--items", "10, 20"])
                .hasSuffix("not item ids (recommend ranks every item); to predict given items: 'mixfill predict --model \(model) --user ID --item-ids 10,20'"))
        #expect(try CLI.usageFailure(["recommend", "--model", model, "--user", "1", "--items", folder])
                == "mixfill: error: --items: \(folder): is a directory, not a file; give the path of a file")
    }
}
