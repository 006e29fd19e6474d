// libFuzzer harness for MixFill's readers. Not part of the Swift package: Scripts/fuzz
// compiles it together with Sources/MixFill (one module, so internal API is reachable)
// using `swiftc -sanitize=fuzzer,address` and runs one target at a time, chosen by the
// MIXFILL_FUZZ_TARGET environment variable:
//
//     dense       DenseMatrixReader.parse            the rating-matrix text reader
//     model       ModelFile.decode                   model files (JSON)
//     jobs        JobFile.parse (and JSONDocument)   batch job files
//     checkpoint  Checkpoint.decode                  checkpoints; the input is a checkpoint
//                                                    without its seal, which the harness
//                                                    appends, so mutations reach the parser
//                                                    instead of stopping at the checksum
//
// Any input must either parse into a value that keeps the reader's invariants and
// round-trips, or be refused with a one-line MixFillError that names a place. A trap,
// a sanitizer report or a broken property is a crash, saved by libFuzzer as an artifact.

#if canImport(Glibc)
import Glibc
#endif

enum FuzzTarget: String {
    case dense, model, jobs, checkpoint
}

let fuzzTarget: FuzzTarget = {
    guard let name = getenv("MIXFILL_FUZZ_TARGET").map({ String(cString: $0) }), let target = FuzzTarget(rawValue: name) else {
        fatalError("set MIXFILL_FUZZ_TARGET to dense, model, jobs or checkpoint")
    }
    return target
}()

func require(_ condition: Bool, _ what: @autoclosure () -> String) {
    if !condition { fatalError("property broken: \(what())") }
}

/// A refusal must be one line, name a place, and carry the bad-input exit code.
func checkRefusal(_ error: MixFillError) {
    require(!error.description.utf8.contains { $0 < 0x20 || $0 == 0x7F }, "control character in the message: \(error.description)")
    require(error.exitCode == 2, "exit code \(error.exitCode) for bad input: \(error.description)")
    switch error {
    case let .badInput(file, line, column, message):
        require(line >= 1 && column >= 1 && !file.isEmpty && !message.isEmpty, "bad place in \(error.description)")
    case let .badFile(file, message):
        require(!file.isEmpty && !message.isEmpty, "empty message")
    default:
        require(false, "unexpected kind of error: \(error)")
    }
}

func fuzzDense(_ bytes: [UInt8]) {
    do {
        let matrix = try DenseMatrixReader.parse(bytes, name: "fuzz.txt")
        require(matrix.userCount >= 1 && matrix.itemCount >= 1, "empty matrix accepted")
        require(matrix.values.count == matrix.userCount * matrix.itemCount, "shape")
        require(matrix.values.allSatisfy { $0.isFinite && $0 >= 0 && $0 <= RatingRules.largestMagnitude }, "value out of range")
        let again = try DenseMatrixReader.parse(DenseMatrixWriter.encode(matrix), name: "again.txt")
        require(again == matrix, "write → read changed the matrix")
    } catch {
        checkRefusal(error)
    }
}

func fuzzModel(_ bytes: [UInt8]) {
    do {
        let model = try ModelFile.decode(bytes, name: "fuzz.json")
        let mixture = model.mixture
        require(mixture.means.count == mixture.componentCount * mixture.itemCount, "shape")
        require(mixture.variances.allSatisfy { $0 > 0 && $0.isFinite }, "variance")
        let again = try ModelFile.decode(model.encoded(), name: "again.json")
        require(again == model, "encode → decode changed the model")
    } catch {
        if case .runtime = error { return }  // encoding failures are not reader bugs
        checkRefusal(error)
    }
}

func fuzzJobs(_ bytes: [UInt8]) {
    do {
        let file = try JobFile.parse(bytes, name: "fuzz.json", baseFolder: "/base")
        require(!file.jobs.isEmpty, "no jobs accepted")
        require(Set(file.jobs.map(\.name)).count == file.jobs.count, "duplicate names accepted")
        for job in file.jobs {
            require(JobFields.isValidName(job.name), "bad name accepted: \(job.name)")
            require(!job.componentCounts.isEmpty && job.componentCounts.allSatisfy { $0 >= 1 }, "bad K accepted")
            require(!job.seeds.isEmpty && job.maxIterations >= 1, "bad seeds or cap accepted")
            // Bytes, not Characters: "/" and a leading combining mark form one Character.
            require(Array(job.dataPath.utf8).suffix(job.data.utf8.count).elementsEqual(job.data.utf8),
                    "data path not resolved from the job's")
        }
    } catch {
        checkRefusal(error)
    }
}

func fuzzCheckpoint(_ body: [UInt8]) {
    let bytes = body + Checkpoint.seal(body[...])
    do {
        let checkpoint = try Checkpoint.decode(bytes, name: "fuzz.ckpt")
        let state = checkpoint.state
        require(state.mixture.componentCount == checkpoint.identity.componentCount, "K")
        require(state.iterations <= checkpoint.identity.maxIterations, "iterations beyond the cap")
        require(state.logLikelihoodTrace.allSatisfy { $0.isFinite }, "non-finite LL accepted")
        let again = try Checkpoint.decode(checkpoint.encoded(), name: "again.ckpt")
        require(again == checkpoint, "encode → decode changed the checkpoint")
    } catch {
        checkRefusal(error)
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    switch fuzzTarget {
    case .dense: fuzzDense(bytes)
    case .model: fuzzModel(bytes)
    case .jobs: fuzzJobs(bytes)
    case .checkpoint: fuzzCheckpoint(bytes)
    }
    return 0
}
