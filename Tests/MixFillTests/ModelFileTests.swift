import Foundation
@testable import MixFill
@testable import MixFillTools
import Testing

@Suite(.blasProcessState) struct ModelFileTests {
    func sampleModel() throws -> ModelFile {
        let data = try Fixtures.load(Fixtures.smallIncomplete)
        let em = CourseEM(kernel: BLASKernel(data))
        let result = try em.run(from: try Initialization.courseMixture(data: data, componentCount: 4, seed: 0))
        return ModelFile(mixture: result.model, logLikelihood: result.objective, seed: 0,
                         iterations: result.iterations, converged: result.converged,
                         userCount: data.userCount, observedCount: data.observedCount)
    }

    @Test func roundTripsBitForBit() throws {
        let model = try sampleModel()
        let folder = try Fixtures.scratchFolder()
        try model.write(to: folder + "/model.json")
        let read = try ModelFile.read(path: folder + "/model.json")
        #expect(read == model)
        let json = try String(contentsOfFile: folder + "/model.json", encoding: .utf8)
        #expect(json.contains("\"format\":\"mixfill-model\""))
        #expect(json.contains("\"version\":1"))
    }

    @Test func newerVersionIsRefusedWithAReason() throws {
        let model = try sampleModel()
        var text = String(decoding: try model.encoded(), as: UTF8.self)
        text = text.replacingOccurrences(of: "\"version\":1", with: "\"version\":7")
        #expect(throws: MixFillError.badFile(file: "m.json", message: "model format version 7 is newer than this MixFill reads (3); upgrade MixFill")) {
            try ModelFile.decode(Array(text.utf8), name: "m.json")
        }
    }

    @Test func otherJSONAndBrokenShapesAreRefused() throws {
        #expect(throws: MixFillError.badFile(file: "m.json", message: "not a MixFill model file (not valid JSON); give a file written by `mixfill fit --model-out`")) {
            try ModelFile.decode(Array("1 2 3".utf8), name: "m.json")
        }
        #expect(throws: MixFillError.badFile(file: "m.json", message: "not a MixFill model file (no \"format\": \"mixfill-model\"); give a file written by `mixfill fit --model-out`")) {
            try ModelFile.decode(Array("{\"k\": 1}".utf8), name: "m.json")
        }
        let model = try sampleModel()
        let text = String(decoding: try model.encoded(), as: UTF8.self).replacingOccurrences(of: "\"k\":4", with: "\"k\":3")
        #expect(throws: MixFillError.badFile(file: "m.json", message: "model shapes disagree: k = 3, d = 5 but the arrays have other sizes")) {
            try ModelFile.decode(Array(text.utf8), name: "m.json")
        }
    }

    @Test func versionTwoCarriesTheTrainingRecordAndIdMaps() throws {
        let base = try sampleModel()
        let record = TrainingDataRecord(
            path: "/data/ratings.csv", format: "csv", fingerprint: "mix64:0123456789abcdef",
            users: IdMap(sortedIds: (0..<20).map { Int64($0) * 3 + 1 }), items: IdMap(sortedIds: [10, 20, 35, 36, 9_000_000_000]),
            ratingScale: RatingScale(minimum: 0.5, maximum: 5), ratingMean: 3.5, itemRatingCounts: [3, 0, 7, 1, 2])
        var model = base
        model.training = record
        let text = String(decoding: try model.encoded(), as: UTF8.self)
        #expect(text.contains("\"version\":2"))
        #expect(text.contains("\"item_ids\":[10,20,35,36,9000000000]"))
        let read = try ModelFile.decode(Array(text.utf8), name: "m.json")
        #expect(read == model)
        #expect(read.users.index(of: 58) == 19 && read.users.index(of: 2) == nil)
        #expect(read.items.id(4) == 9_000_000_000)
        // Dense data: identity maps are not written at all.
        model.training?.users = .identity(20)
        model.training?.items = .identity(5)
        let dense = String(decoding: try model.encoded(), as: UTF8.self)
        #expect(!dense.contains("user_ids") && !dense.contains("item_ids"))
        #expect(try ModelFile.decode(Array(dense.utf8), name: "m.json") == model)
    }

    @Test func versionOneFilesAreStillRead() throws {
        let text = """
            {"converged":true,"d":2,"data":{"items":2,"observed":3,"users":2},"format":"mixfill-model",\
            "iterations":4,"k":1,"log_likelihood":-5.5,"means":[[3,4.5]],"seed":0,"variances":[0.25],\
            "version":1,"weights":[1]}
            """
        let model = try ModelFile.decode(Array(text.utf8), name: "old.json")
        #expect(model.training == nil)
        #expect(model.course.means == [3, 4.5] && model.userCount == 2 && model.observedCount == 3)
        #expect(model.users == .identity(2) && model.items.index(of: 1) == 1)
        let server = ModelServer(model: model)
        #expect(server.scale == nil && server.fallback == 3.75)
    }

    /// A negative count in "data" names the field and what it must be, in the library and
    /// through the CLI (exit 2, one line).
    @Test func aNegativeUserCountNamesTheField() throws {
        let text = String(decoding: try sampleModel().encoded(), as: UTF8.self)
        #expect(text.contains("\"users\":20"))
        let negative = text.replacingOccurrences(of: "\"users\":20", with: "\"users\":-5")
        #expect(throws: MixFillError.badFile(file: "m.json", message: "\"data\".\"users\" is -5; it must be a count, 0 or more (the training data's users); refit and write the model again")) {
            try ModelFile.decode(Array(negative.utf8), name: "m.json")
        }
        let observed = text.replacingOccurrences(of: "\"observed\":81", with: "\"observed\":-1")
        #expect(throws: MixFillError.badFile(file: "m.json", message: "\"data\".\"observed\" is -1; it must be a count, 0 or more (the training data's observed ratings); refit and write the model again")) {
            try ModelFile.decode(Array(observed.utf8), name: "m.json")
        }
        let path = try Fixtures.write(negative, named: "m.json", in: try Fixtures.scratchFolder())
        let line = try CLI.usageFailure(["predict", "--model", path, "--user", "1"])
        #expect(line == "mixfill: error: \(path): \"data\".\"users\" is -5; it must be a count, 0 or more (the training data's users); refit and write the model again")
    }

    @Test func inconsistentVersionTwoRecordsAreRefused() throws {
        var model = try sampleModel()
        model.training = TrainingDataRecord(path: nil, format: "dense", fingerprint: "mix64:0", users: .identity(20),
                                            items: .identity(5), ratingScale: RatingScale(minimum: 1, maximum: 5),
                                            ratingMean: 3, itemRatingCounts: [1, 1, 1, 1, 1])
        let text = String(decoding: try model.encoded(), as: UTF8.self)
        let shortCounts = text.replacingOccurrences(of: "\"item_rating_counts\":[1,1,1,1,1]", with: "\"item_rating_counts\":[1,1]")
        #expect(throws: MixFillError.badFile(file: "m.json", message: "model's training data record is inconsistent (rating range, mean or item_rating_counts); refit and write it again")) {
            try ModelFile.decode(Array(shortCounts.utf8), name: "m.json")
        }
        let unsorted = text.replacingOccurrences(of: "\"k\":4", with: "\"item_ids\":[4,3,2,1,0],\"k\":4")
        #expect(throws: MixFillError.badFile(file: "m.json", message: "model's item_ids are not 5 increasing ids (one per item); refit and write it again")) {
            try ModelFile.decode(Array(unsorted.utf8), name: "m.json")
        }
        let noFingerprint = text.replacingOccurrences(of: "\"fingerprint\":\"mix64:0\",", with: "")
        #expect(throws: MixFillError.self) { try ModelFile.decode(Array(noFingerprint.utf8), name: "m.json") }
    }
}
