import Foundation
import MixFill
import Testing

@Suite struct ModelFileTests {
    func sampleModel() throws -> ModelFile {
        let data = try Fixtures.load(Fixtures.smallIncomplete)
        let em = ExpectationMaximization(kernel: BLASKernel(data))
        let result = try em.run(from: try Initialization.courseMixture(data: data, componentCount: 4, seed: 0))
        return ModelFile(mixture: result.mixture, logLikelihood: result.logLikelihood, seed: 0,
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
        #expect(throws: MixFillError.badFile(file: "m.json", message: "model format version 7 is newer than this MixFill reads (1); upgrade MixFill")) {
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
}
