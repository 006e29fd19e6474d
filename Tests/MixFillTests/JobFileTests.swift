import Foundation
@testable import MixFill
@testable import MixFillTools
import Testing

/// The job-file reader: the documented schema, strictly; every error with its place.
@Suite struct JobFileTests {
    func parse(_ text: String) throws(MixFillError) -> JobFile {
        try JobFile.parse(Array(text.utf8), name: "jobs.json", baseFolder: "/batch")
    }

    func failure(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> String {
        do {
            _ = try parse(text)
            Issue.record("accepted: \(text)", sourceLocation: sourceLocation)
            return ""
        } catch {
            #expect(error.exitCode == 2, sourceLocation: sourceLocation)
            return error.description
        }
    }

    @Test func readsJobsWithDefaultsAndResolvesPaths() throws {
        let file = try parse("""
            {"version": 1,
             "defaults": {"seeds": "0-2", "backend": "naive", "max_iterations": 50, "checkpoint_every": 5},
             "jobs": [
               {"name": "a", "data": "ratings.txt", "k": [1, 12]},
               {"name": "b.2_x", "data": "/abs/r.txt", "k": "1-3,7", "seeds": [4], "backend": "blas",
                "threads": 2, "gold": "gold.txt", "models": false, "format": "dense"}
             ]}
            """)
        #expect(file.jobs.count == 2)
        let a = file.jobs[0]
        #expect(a.name == "a" && a.data == "ratings.txt" && a.dataPath == "/batch/ratings.txt")
        #expect(a.componentCounts == [1, 12] && a.seeds == [0, 1, 2] && a.backend == .naive)
        #expect(a.maxIterations == 50 && a.checkpointEvery == 5 && a.threads == nil && a.writeModels && a.gold == nil)
        #expect(a.line == 4)
        let b = file.jobs[1]
        #expect(b.dataPath == "/abs/r.txt" && b.componentCounts == [1, 2, 3, 7] && b.seeds == [4])
        #expect(b.backend == .blas && b.threads == 2 && b.goldPath == "/batch/gold.txt" && !b.writeModels)
        #expect(b.format == .dense && b.kernel == .auto)
        #expect(b.canonicalText == "name=b.2_x\ndata=/abs/r.txt\nformat=dense\nk=1,2,3,7\nseeds=4\nbackend=blas\nkernel=auto\nmax_iterations=50\ngold=gold.txt\nmodels=false\n")
    }

    @Test func defaultsForOptionalFields() throws {
        let job = try parse(#"{"jobs": [{"name": "a", "data": "r.txt", "k": [2]}]}"#).jobs[0]
        #expect(job.seeds == [0, 1, 2, 3, 4] && job.backend == .blas && job.maxIterations == 1000)
        #expect(job.format == .auto && job.kernel == .auto && job.writeModels && job.checkpointEvery == nil)
    }

    /// A job runs the fit `mixfill fit` runs: K left out is `fit -k`'s default for the family.
    @Test func kLeftOutIsFitsDefaultForTheFamily() throws {
        let file = try parse("""
            {"jobs": [
               {"name": "course", "data": "r.txt"},
               {"name": "mppca", "data": "r.txt", "family": "mppca"}
             ]}
            """)
        #expect(file.jobs[0].family == .course && file.jobs[0].componentCounts == [1, 12])
        #expect(file.jobs[1].family == .mppca && file.jobs[1].componentCounts == nil, "chosen from the training ratings")
        // The same fits as a job that spells K out, so the same settings text and content hash.
        let spelled = try parse(#"{"jobs": [{"name": "course", "data": "r.txt", "k": [12, 1]}]}"#).jobs[0]
        #expect(file.jobs[0].canonicalText == spelled.canonicalText)
        #expect(file.jobs[0].canonicalText == "name=course\ndata=r.txt\nformat=auto\nk=1,12\nseeds=0,1,2,3,4\nbackend=blas\nkernel=auto\nmax_iterations=1000\ngold=\nmodels=true\n")
    }

    @Test func kAndSeedsTakeANumberAListOrAString() throws {
        let file = try parse("""
            {"jobs": [
               {"name": "number", "data": "r.txt", "k": 12, "seeds": 3},
               {"name": "list", "data": "r.txt", "k": [12], "seeds": [3]},
               {"name": "string", "data": "r.txt", "k": "12", "seeds": "3"},
               {"name": "ranges", "data": "r.txt", "k": "1-3,7", "seeds": "0-2"}
             ]}
            """)
        #expect(file.jobs.map(\.componentCounts) == [[12], [12], [12], [1, 2, 3, 7]])
        #expect(file.jobs.map(\.seeds) == [[3], [3], [3], [0, 1, 2]])
        let head = #"{"jobs": [{"name": "a", "data": "r.txt", "#
        #expect(failure(head + #""k": 0}]}"#) == "jobs.json:1:47: \"k\" in job \"a\" has K = 0; K must be at least 1")
        #expect(failure(head + #""k": 1.5}]}"#)
                == "jobs.json:1:47: \"k\" in job \"a\" must be a whole number, a list like [1, 12] or a string like \"1,12\" or \"1-16\", not the number 1.5")
        #expect(failure(head + #""k": true}]}"#)
                == "jobs.json:1:47: \"k\" in job \"a\" must be a whole number, a list like [1, 12] or a string like \"1,12\" or \"1-16\", not true")
        #expect(failure(head + #""k": "1-x"}]}"#)
                == "jobs.json:1:47: \"k\" in job \"a\": '1-x' in '1-x' is not a component count or range; write the list like \"1,12\" or \"1-16\"")
        #expect(failure(head + #""seeds": -1}]}"#) == "jobs.json:1:51: \"seeds\" in job \"a\" has seed -1; seeds are 0 to 4294967295")
        #expect(failure(head + #""seeds": {}}]}"#)
                == "jobs.json:1:51: \"seeds\" in job \"a\" must be a whole number, a list like [0, 1, 2] or a string like \"0-4\" or \"0,1,2\", not an object")
    }

    /// `null` in a job unsets a field "defaults" set: record data jobs share defaults with
    /// dense jobs that have a gold matrix.
    @Test func nullInAJobUnsetsWhatDefaultsSet() throws {
        let file = try parse("""
            {"defaults": {"data": "dense.txt", "gold": "gold.txt", "k": [4], "seeds": "1-2", "threads": 2,
                          "checkpoint_every": 5, "max_iterations": 50,
                          "family": "mppca", "factors": 3, "prior_loadings": 40, "prior_means": 2},
             "jobs": [
               {"name": "dense"},
               {"name": "records", "data": "ratings.csv", "gold": null},
               {"name": "course", "family": null, "factors": null, "prior_loadings": null, "prior_means": null,
                "k": null, "seeds": null, "threads": null, "checkpoint_every": null, "max_iterations": null, "gold": null}
             ]}
            """)
        let dense = file.jobs[0], records = file.jobs[1]
        #expect(dense.gold == "gold.txt" && dense.goldPath == "/batch/gold.txt" && dense.family == .mppca && dense.componentCounts == [4])
        #expect(records.gold == nil && records.goldPath == nil && records.dataPath == "/batch/ratings.csv")
        #expect(records.family == .mppca && records.factors == 3 && records.threads == 2 && records.seeds == [1, 2], "only the nulled field is unset")
        // Unset is as never set: `fit`'s defaults (K = 1, 12 for course), and the settings of a
        // job without the fields, so its content hash too. The mppca fields are gone, so a
        // course job may inherit the others.
        var course = file.jobs[2]
        let plain = try parse(#"{"jobs": [{"name": "course", "data": "dense.txt"}]}"#).jobs[0]
        #expect(course.family == .course && course.componentCounts == [1, 12] && course.seeds == [0, 1, 2, 3, 4])
        #expect(course.line == 7)
        course.line = plain.line
        #expect(course == plain)

        let others = try parse("""
            {"defaults": {"data": "r.txt", "format": "dense", "kernel": "dense", "precision": "single",
                          "rating_scale": "1-5", "models": false, "backend": "naive"},
             "jobs": [
               {"name": "a", "format": null, "kernel": null, "precision": null, "rating_scale": null, "models": null, "backend": null}
             ]}
            """).jobs[0]
        var unset = try parse(#"{"jobs": [{"name": "a", "data": "r.txt"}]}"#).jobs[0]
        unset.line = others.line
        #expect(others == unset)
        #expect(others.format == .auto && others.kernel == .auto && others.precision == .double && others.ratingScale == nil)
        #expect(others.writeModels && others.backend == .blas)

        // name and data have no default: null is refused, naming the job, field and place.
        #expect(failure(#"{"jobs": [{"name": null, "data": "r.txt"}]}"#)
                == "jobs.json:1:20: \"name\" in job 1 is null; every job needs a name, e.g. \"name\": \"netflix-k12\"")
        #expect(failure(#"{"defaults": {"data": "r.txt"}, "jobs": [{"name": "a", "data": null}]}"#)
                == "jobs.json:1:64: \"data\" in job \"a\" is null; every job needs its rating data, e.g. \"data\": \"ratings.txt\"")
        #expect(failure(#"{"defaults": {"data": null}, "jobs": [{"name": "a"}]}"#)
                == "jobs.json:1:23: \"data\" in \"defaults\" is null; every job needs its rating data, e.g. \"data\": \"ratings.txt\"")
        #expect(failure(#"{"defaults": {"name": null}, "jobs": [{"name": "a", "data": "r.txt"}]}"#)
                == "jobs.json:1:15: \"name\" cannot be a default; every job names itself")
        // An unknown field is an error, null or not.
        #expect(failure(#"{"jobs": [{"name": "a", "data": "r.txt", "glod": null}]}"#)
                == "jobs.json:1:42: unknown field \"glod\" in job \"a\"; job fields are name, data, format, family, k, seeds, backend, kernel, precision, rating_scale, threads, max_iterations, gold, models, checkpoint_every, factors, prior_loadings, prior_means")
        // Without the null, a course job's inherited mppca field is refused where "defaults" set it.
        #expect(failure(#"{"defaults": {"factors": 3}, "jobs": [{"name": "a", "data": "r.txt"}]}"#)
                == "jobs.json:1:15: \"factors\" in job \"a\" is a setting of the mppca family, and the job fits the course family; add \"family\": \"mppca\" or drop \"factors\"")
        #expect(try parse(#"{"defaults": {"factors": 3}, "jobs": [{"name": "a", "data": "r.txt", "factors": null}]}"#).jobs[0].factors == nil)
    }

    @Test func mppcaJobsTakeFitsVocabulary() throws {
        let file = try parse("""
            {"defaults": {"family": "mppca"},
             "jobs": [
               {"name": "chosen", "data": "r.csv"},
               {"name": "given", "data": "r.csv", "k": [2], "factors": 0, "prior_loadings": 40, "prior_means": 2.5, "seeds": "1-2"},
               {"name": "course", "data": "r.csv", "family": "course", "k": [3]}
             ]}
            """)
        let chosen = file.jobs[0]
        #expect(chosen.family == .mppca && chosen.componentCounts == nil && chosen.seeds == [0])
        #expect(chosen.factors == nil && chosen.priorLoadings == nil && chosen.priorMeans == nil)
        #expect(chosen.canonicalText.hasSuffix("models=true\nfamily=mppca\nfactors=chosen\nprior_loadings=chosen\nprior_means=default\n"))
        let given = file.jobs[1]
        #expect(given.componentCounts == [2] && given.factors == 0 && given.priorLoadings == 40 && given.priorMeans == 2.5)
        #expect(given.seeds == [1, 2])
        #expect(given.canonicalText.hasSuffix("family=mppca\nfactors=0\nprior_loadings=40.0\nprior_means=2.5\n"))
        // A course job's text (and so its content hash) is what it was before families existed.
        #expect(file.jobs[2].family == .course && file.jobs[2].canonicalText == "name=course\ndata=r.csv\nformat=auto\nk=3\nseeds=0,1,2,3,4\nbackend=blas\nkernel=auto\nmax_iterations=1000\ngold=\nmodels=true\n")
    }

    @Test func badMppcaFieldsNameTheFileTheJobAndTheField() {
        func job(_ fields: String) -> String { "{\"jobs\": [{\"name\": \"m\", \"data\": \"r.csv\", \(fields)}]}" }
        #expect(failure(job(#""family": "mpcca""#)) == "jobs.json:1:52: family \"mpcca\" in job \"m\" is unknown; use one of: course, mppca")
        #expect(failure(job(#""family": "mppca", "factors": -1"#)) == "jobs.json:1:72: \"factors\" in job \"m\" must be a whole number ≥ 0 (latent factors q), not the number -1")
        #expect(failure(job(#""family": "mppca", "factors": 2.5"#)) == "jobs.json:1:72: \"factors\" in job \"m\" must be a whole number ≥ 0 (latent factors q), not the number 2.5")
        #expect(failure(job(#""family": "mppca", "prior_loadings": -3"#)) == "jobs.json:1:79: \"prior_loadings\" in job \"m\" must be a positive prior precision, e.g. 100, not the number -3")
        #expect(failure(job(#""family": "mppca", "prior_means": 0"#)) == "jobs.json:1:76: \"prior_means\" in job \"m\" must be a positive prior precision, e.g. 100, not the number 0")
        #expect(failure(job(#""family": "mppca", "prior_means": "5""#)) == "jobs.json:1:76: \"prior_means\" in job \"m\" must be a positive prior precision, e.g. 100, not the string \"5\"")
        #expect(failure(job(#""k": [2], "factors": 10"#)) == "jobs.json:1:52: \"factors\" in job \"m\" is a setting of the mppca family, and the job fits the course family; add \"family\": \"mppca\" or drop \"factors\"")
        #expect(failure(job(#""family": "mppca", "precision": "single""#)) == "jobs.json:1:61: job \"m\" asks for precision \"single\" with family \"mppca\", which computes in double precision only; drop \"precision\"")
    }

    @Test func byteOrderMarkAndCRLFAreAccepted() throws {
        let text = "\u{FEFF}{\r\n  \"jobs\": [\r\n    {\"name\": \"a\", \"data\": \"r.txt\", \"k\": [2]}\r\n  ]\r\n}\r\n"
        #expect(try parse(text).jobs.map(\.name) == ["a"])
        // Columns count from after the mark; lines from CRLF.
        #expect(failure("\u{FEFF}{\r\n \"jobz\": []}") == "jobs.json:2:2: unknown top-level field \"jobz\"; a job file has \"jobs\" and optionally \"defaults\" and \"version\"")
    }

    @Test func unknownJobFieldsAreErrorsWithTheirPlace() {
        #expect(failure("{\"jobs\": [\n  {\"name\": \"a\", \"data\": \"r.txt\", \"k\": [2],\n   \"kernal\": \"blas\"}]}")
            == "jobs.json:3:4: unknown field \"kernal\" in job \"a\"; job fields are name, data, format, family, k, seeds, backend, kernel, precision, rating_scale, threads, max_iterations, gold, models, checkpoint_every, factors, prior_loadings, prior_means")
        #expect(failure(#"{"defaults": {"precison": "single"}, "jobs": []}"#)
            == "jobs.json:1:15: unknown field \"precison\" in \"defaults\"; job fields are name, data, format, family, k, seeds, backend, kernel, precision, rating_scale, threads, max_iterations, gold, models, checkpoint_every, factors, prior_loadings, prior_means")
    }

    @Test func emptyAndMalformedFiles() {
        #expect(failure("") == "jobs.json: the file is empty; it must hold one JSON object")
        #expect(failure("  \n\n") == "jobs.json: the file is empty; it must hold one JSON object")
        #expect(failure("{}") == "jobs.json:1:1: the job file has no \"jobs\" list; add \"jobs\": [{\"name\": …, \"data\": …, \"k\": …}]")
        #expect(failure(#"{"jobs": []}"#) == "jobs.json:1:10: \"jobs\" is empty; list at least one job")
        #expect(failure("[1, 2]") == "jobs.json:1:1: the job file must be a JSON object with a \"jobs\" list, not a list")
        // Truncated mid-way.
        #expect(failure("{\"jobs\": [{\"name\": \"a\", \"da") == "jobs.json:1:25: the file ends inside this string; close it with '\"'")
        #expect(failure("{\"jobs\": [{\"name\": \"a\"") == "jobs.json:1:23: the file ends inside an object; it is incomplete (truncated?)")
        #expect(failure("{\"jobs\": [") == "jobs.json:1:11: the file ends where a value should be; it is incomplete (truncated?)")
        // Binary garbage.
        #expect(failure("\u{01}\u{02}PK\u{03}") == "jobs.json:1:1: expected a value (an object, list, string, number, true, false or null), found the byte \\x01")
        #expect(failure("{\"jobs\": [] } x") == "jobs.json:1:15: unexpected 'x' after the end of the JSON value; a file holds exactly one value")
        #expect(failure("{\"jobs\": [1,]}") == "jobs.json:1:13: a comma before ']' is not allowed in JSON; remove it")
        #expect(failure("{\"jobs\": [], \"jobs\": []}") == "jobs.json:1:14: the field \"jobs\" appears twice in this object; keep one")
        #expect(failure("{\"jobs\": [{\"name\": \"a\u{0A}\"}]}") == "jobs.json:1:22: a control character (\\x0A) inside a string; strings end on the same line, write a newline as \\n")
        #expect(failure("{\"jobs\": 01}") == "jobs.json:1:10: malformed number; write numbers like 12, -3 or 0.5e-3")
        #expect(failure(String(repeating: "[", count: 100)) == "jobs.json:1:65: values are nested more than 64 levels deep")
        do {
            _ = try JobFile.parse([0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x3A, 0x31, 0x7D], name: "jobs.json", baseFolder: ".")
            Issue.record("invalid UTF-8 accepted")
        } catch {
            #expect(error.description == "jobs.json:1:2: the string is not valid UTF-8; save the file as UTF-8")
        }
    }

    @Test func fieldValuesAreChecked() {
        let head = #"{"jobs": [{"name": "a", "data": "r.txt", "k": [2], "#
        #expect(failure(head + #""seeds": "0-x"}]}"#) == "jobs.json:1:61: \"seeds\" in job \"a\": '0-x' in '0-x' is not a seed or range; write the list like \"0-4\" or \"0,1,2\"")
        #expect(failure(head + #""seeds": [-1]}]}"#) == "jobs.json:1:61: \"seeds\" in job \"a\" has seed -1; seeds are 0 to 4294967295")
        #expect(failure(head + #""seeds": "0-4294967295"}]}"#) == "jobs.json:1:61: \"seeds\" in job \"a\": '0-4294967295' holds more than 100000 values; give at most 100000")
        #expect(failure(head + "\"seeds\": [" + Array(repeating: "0", count: 100_001).joined(separator: ",") + "]}]}")
                == "jobs.json:1:61: \"seeds\" in job \"a\" lists 100001 values; give at most 100000")
        #expect(failure(head + #""seeds": [1.5]}]}"#) == "jobs.json:1:62: \"seeds\" in job \"a\" must list whole numbers, not the number 1.5")
        #expect(failure(head + #""backend": "gpu"}]}"#) == "jobs.json:1:63: backend \"gpu\" in job \"a\" is unknown; use one of: naive, blas")
        #expect(failure(head + #""threads": 0}]}"#) == "jobs.json:1:63: \"threads\" in job \"a\" must be a whole number from 1 to 1024, not the number 0")
        #expect(failure(head + #""threads": 1025}]}"#) == "jobs.json:1:63: \"threads\" in job \"a\" must be a whole number from 1 to 1024, not the number 1025")
        #expect(failure(head + #""threads": 4294967296}]}"#) == "jobs.json:1:63: \"threads\" in job \"a\" must be a whole number from 1 to 1024, not the number 4294967296")
        #expect(failure(head + #""max_iterations": "10"}]}"#) == "jobs.json:1:70: \"max_iterations\" in job \"a\" must be a whole number ≥ 1, not the string \"10\"")
        #expect(failure(head + #""models": 1}]}"#) == "jobs.json:1:62: \"models\" in job \"a\" must be true or false, not the number 1")
        #expect(failure(head + #""format": "xlsx"}]}"#) == "jobs.json:1:62: format \"xlsx\" in job \"a\" is not one this MixFill reads; use one of: auto, dense, triplets, csv, netflix, movielens-dat, binary")
        #expect(failure(head + #""kernel": "gpu"}]}"#) == "jobs.json:1:62: kernel \"gpu\" in job \"a\" is unknown; use one of: auto, dense, blocked, sparse")
        #expect(failure(head + #""backend": "naive", "kernel": "sparse"}]}"#) == "jobs.json:1:72: job \"a\" asks for backend \"naive\" (the dense textbook kernel) with kernel \"sparse\"; drop one of them")
        #expect(failure(#"{"jobs": [{"name": "a", "data": "r.txt", "k": [0]}]}"#) == "jobs.json:1:47: \"k\" in job \"a\" has K = 0; K must be at least 1")
        #expect(failure(#"{"jobs": [{"name": "a", "data": "r.txt", "k": []}]}"#) == "jobs.json:1:47: \"k\" in job \"a\" is an empty list; give at least one component count, like [1, 12]")
        #expect(failure(#"{"jobs": [{"data": "r.txt", "k": [1]}]}"#) == "jobs.json:1:11: job 1 has no \"name\"; add it, e.g. \"name\": \"netflix-k12\"")
        #expect(failure(#"{"jobs": [{"name": "../up", "data": "r.txt", "k": [1]}]}"#) == "jobs.json:1:20: job name \"../up\" cannot be a folder name; use 1 to 100 letters, digits, '.', '_' or '-', not starting with '.'")
        #expect(failure(#"{"jobs": [{"name": "summary.json", "data": "r.txt", "k": [1]}]}"#) == "jobs.json:1:20: job name \"summary.json\" is the name of the batch's own summary.json in the output folder; choose another name")
        #expect(failure(#"{"jobs": [{"name": "summary.csv", "data": "r.txt", "k": [1]}]}"#) == "jobs.json:1:20: job name \"summary.csv\" is the name of the batch's own summary.csv in the output folder; choose another name")
        #expect(failure("{\"jobs\": [{\"name\": \"a\", \"data\": \"r\", \"k\": [1]},\n {\"name\": \"a\", \"data\": \"s\", \"k\": [2]}]}")
            == "jobs.json:2:2: a second job named \"a\" (the first is on line 1); job names must be unique")
        #expect(failure(#"{"version": 2, "jobs": []}"#) == "jobs.json:1:13: job file version 2 is newer than this MixFill reads (1); upgrade MixFill")
        #expect(failure(#"{"defaults": {"name": "x"}, "jobs": []}"#) == "jobs.json:1:15: \"name\" cannot be a default; every job names itself")
    }

    @Test func precisionAndRatingScale() throws {
        let file = try parse("""
            {"defaults": {"precision": "single"},
             "jobs": [
               {"name": "a", "data": "r.txt", "k": [2], "rating_scale": "1-5"},
               {"name": "b", "data": "r.txt", "k": [2], "rating_scale": [0.5, 5], "precision": "double"},
               {"name": "c", "data": "r.txt", "k": [2], "rating_scale": [-1E1, 1e1], "kernel": "dense"}
             ]}
            """)
        let (a, b, c) = (file.jobs[0], file.jobs[1], file.jobs[2])
        #expect(a.precision == .single && a.ratingScale == RatingScale(minimum: 1, maximum: 5))
        #expect(b.precision == .double && b.ratingScale == RatingScale(minimum: 0.5, maximum: 5))
        #expect(c.ratingScale == RatingScale(minimum: -10, maximum: 10))
        let base = "name=a\ndata=r.txt\nformat=auto\nk=2\nseeds=0,1,2,3,4\nbackend=blas\nkernel=auto\nmax_iterations=1000\ngold=\nmodels=true\n"
        #expect(a.canonicalText == base + "precision=single\nrating_scale=1-5\n")
        #expect(b.canonicalText.hasSuffix("models=true\nrating_scale=0.5-5\n"))
        #expect(a.ratingRules.violation(6, token: "6") == "rating '6' is outside the declared scale (\"rating_scale\" 1-5); correct the rating or declare the scale the data use")
        // Both change the content hash; an explicit "double" and no scale hash as before they existed.
        let plain = try parse(#"{"jobs": [{"name": "a", "data": "r.txt", "k": [2]}]}"#).jobs[0]
        let explicitDouble = try parse(#"{"jobs": [{"name": "a", "data": "r.txt", "k": [2], "precision": "double"}]}"#).jobs[0]
        #expect(plain.canonicalText == base && explicitDouble.canonicalText == base)
        var single = plain
        single.precision = .single
        var scaled = plain
        scaled.ratingScale = RatingScale(minimum: 1, maximum: 5)
        let hashes = [plain, single, scaled].map { BatchRunner.contentHash($0, dataHash: "d", goldHash: nil) }
        #expect(Set(hashes).count == 3)
        #expect(BatchRunner.contentHash(explicitDouble, dataHash: "d", goldHash: nil) == hashes[0])

        let head = #"{"jobs": [{"name": "a", "data": "r.txt", "k": [2], "#
        #expect(failure(head + #""precision": "half"}]}"#) == "jobs.json:1:65: precision \"half\" in job \"a\" is unknown; use one of: double, single")
        #expect(failure(head + #""precision": "single", "backend": "naive"}]}"#) == "jobs.json:1:52: job \"a\" asks for precision \"single\", which runs on the dense BLAS kernel only, with backend \"naive\"; drop one of them")
        #expect(failure(#"{"defaults": {"precision": "single"}, "jobs": [{"name": "a", "data": "r.txt", "k": [2], "kernel": "sparse"}]}"#)
                == "jobs.json:1:15: job \"a\" asks for precision \"single\", which runs on the dense BLAS kernel only, with kernel \"sparse\"; drop one of them")
        #expect(failure(#"{"defaults": {"precision": "single", "kernel": "sparse"}, "jobs": [{"name": "a", "data": "r.txt", "k": [2]}]}"#)
                == "jobs.json:1:15: job \"a\" asks for precision \"single\", which runs on the dense BLAS kernel only, with kernel \"sparse\"; drop one of them")
        #expect(failure(head + #""precision": "single", "kernel": "sparse"}]}"#) == "jobs.json:1:52: job \"a\" asks for precision \"single\", which runs on the dense BLAS kernel only, with kernel \"sparse\"; drop one of them")
        #expect(failure(head + #""rating_scale": "5-1"}]}"#) == "jobs.json:1:68: \"rating_scale\" in job \"a\": '5-1' is not a rating scale: its lowest rating must be below its highest; give the lowest and highest rating as MIN-MAX, e.g. 1-5 or 0.5-5")
        #expect(failure(head + #""rating_scale": [1]}]}"#) == "jobs.json:1:68: \"rating_scale\" in job \"a\" lists 1 number; give it as \"MIN-MAX\" or [MIN, MAX], e.g. \"1-5\" or [0.5, 5]")
        #expect(failure(head + #""rating_scale": [1, "5"]}]}"#) == "jobs.json:1:72: \"rating_scale\" in job \"a\" must list two numbers, not the string \"5\"; give it as \"MIN-MAX\" or [MIN, MAX], e.g. \"1-5\" or [0.5, 5]")
        #expect(failure(head + #""rating_scale": true}]}"#) == "jobs.json:1:68: \"rating_scale\" in job \"a\" must be a string or a list, not true; give it as \"MIN-MAX\" or [MIN, MAX], e.g. \"1-5\" or [0.5, 5]")
    }

    @Test func messagesStayOnOneLine() throws {
        // Found by the fuzzer: a list string with an escaped newline was echoed raw.
        #expect(failure(#"{"defaults": {"seeds": "02-n\n"}, "jobs": []}"#)
            == "jobs.json:1:24: \"seeds\" in \"defaults\": '02-n\\x0A' in '02-n\\x0A' is not a seed or range; write the list like \"0-4\" or \"0,1,2\"")
        #expect(failure(#"{"jobs": [{"name": "a", "data": "r\n.txt", "k": [1]}]}"#)
            == "jobs.json:1:33: \"data\" in job \"a\" holds a control character ('r\\x0A.txt'); give a plain file path")
        #expect(failure(#"{"jobs": [{"name": "a", "data": "-", "k": [1]}]}"#)
            == "jobs.json:1:33: \"data\" in job \"a\" is '-', standard input, which a batch job cannot read (its files are hashed and read again on reruns); give a file path")
        // A pipe by path likewise, when the job file is read, not when its job runs.
        let folder = try Fixtures.scratchFolder()
        #expect(mkfifo(folder + "/fifo", 0o600) == 0)
        #expect(throws: MixFillError.badInput(file: "jobs.json", line: 1, column: 25, message: "\"data\" in job \"a\" is a pipe, which a batch job cannot read (its files are hashed and read again on reruns); give a file path")) {
            try JobFile.parse(Array(#"{"jobs": [{"name": "a", "data": "fifo", "k": [1]}]}"#.utf8), name: "jobs.json", baseFolder: folder)
        }
    }

    @Test func jsonStringsDecodeEscapes() throws {
        let value = try JSONDocument.parse(Array(#"["a\"b\\c\/\n\u00e9\ud83d\ude00"]"#.utf8), name: "x")
        guard case let .array(elements) = value.kind, elements.count == 1, case let .string(text) = elements[0].kind else {
            Issue.record("\(value)")
            return
        }
        #expect(text == "a\"b\\c/\né😀")
        #expect(elements[0].line == 1 && elements[0].column == 2)
        #expect(throws: MixFillError.badInput(file: "x", line: 1, column: 3, message: "a \\u escape holds half a surrogate pair; give both halves or the character itself")) {
            try JSONDocument.parse(Array(#"["\ud83d"]"#.utf8), name: "x")
        }
    }

    @Test func sha256MatchesTheStandardVectors() {
        #expect(ContentHasher.hex([UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(ContentHasher.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(ContentHasher.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        // One million 'a', fed in uneven pieces to exercise the streaming path.
        var hasher = ContentHasher()
        var fed = 0
        var piece = 1
        while fed < 1_000_000 {
            let count = min(piece, 1_000_000 - fed)
            hasher.update([UInt8](repeating: UInt8(ascii: "a"), count: count))
            fed += count
            piece = piece * 3 + 1
        }
        #expect(hasher.finalizeHex() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }
}
