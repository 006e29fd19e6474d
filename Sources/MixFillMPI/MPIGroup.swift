#if MPI
import CMPI
import MixFill
#if canImport(Glibc)
import Glibc
#endif

/// MPI_COMM_WORLD as MixFill's `ProcessGroup`. MPI is initialised once per process
/// (thread level FUNNELED: only the thread running the EM loop calls MPI) and keeps the
/// default error handler, MPI_ERRORS_ARE_FATAL, so a failed transfer — a peer that died
/// included — ends the whole job instead of returning.
public final class MPIGroup: ProcessGroup {
    public let rank: Int
    public let size: Int

    /// Initialises MPI. Call once, before any other MPI use, from the main thread.
    public init() {
        var provided: Int32 = 0
        _ = MPI_Init_thread(nil, nil, mixfill_mpi_thread_funneled(), &provided)
        var rank: Int32 = 0
        var size: Int32 = 0
        MPI_Comm_rank(mixfill_mpi_comm_world(), &rank)
        MPI_Comm_size(mixfill_mpi_comm_world(), &size)
        self.rank = Int(rank)
        self.size = Int(size)
    }

    /// Whether this process was started by an MPI launcher (mpirun, srun): such a process
    /// has the launcher's rank variables. Read before `init`, to refuse `--distributed`
    /// outside mpirun with a clear message rather than run as a lone rank by accident.
    public static var isUnderLauncher: Bool {
        let names: [String] = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "SLURM_PROCID"]
        return names.contains { name in getenv(name) != nil }
    }

    /// Ends MPI after a successful run (every rank calls it).
    public func finalize() {
        MPI_Finalize()
    }

    /// Ends every rank of the job with `code` (mpirun then exits non-zero). Never returns.
    public func abort(code: Int32) -> Never {
        MPI_Abort(mixfill_mpi_comm_world(), code)
        exit(code)
    }

    public func gather(_ values: [Double]) throws(MixFillError) -> [Double] {
        var result = [Double](repeating: 0, count: rank == 0 ? values.count * size : 0)
        let count = try Self.count(values.count)
        let status = values.withUnsafeBufferPointer { send in
            result.withUnsafeMutableBufferPointer { receive in
                MPI_Gather(send.baseAddress, count, mixfill_mpi_double(), receive.baseAddress, count, mixfill_mpi_double(),
                           0, mixfill_mpi_comm_world())
            }
        }
        try Self.check(status, "MPI_Gather")
        return result
    }

    public func broadcast(_ values: inout [Double], from root: Int) throws(MixFillError) {
        let count = try Self.count(values.count)
        let status = values.withUnsafeMutableBufferPointer { buffer in
            MPI_Bcast(buffer.baseAddress, count, mixfill_mpi_double(), Int32(root), mixfill_mpi_comm_world())
        }
        try Self.check(status, "MPI_Bcast")
    }

    public func send(_ values: [Double], to rank: Int) throws(MixFillError) {
        let count = try Self.count(values.count)
        let status = values.withUnsafeBufferPointer { buffer in
            MPI_Send(buffer.baseAddress, count, mixfill_mpi_double(), Int32(rank), 0, mixfill_mpi_comm_world())
        }
        try Self.check(status, "MPI_Send")
    }

    public func receive(count: Int, from rank: Int) throws(MixFillError) -> [Double] {
        var values = [Double](repeating: 0, count: count)
        let length = try Self.count(count)
        let status = values.withUnsafeMutableBufferPointer { buffer in
            MPI_Recv(buffer.baseAddress, length, mixfill_mpi_double(), Int32(rank), 0, mixfill_mpi_comm_world(),
                     mixfill_mpi_status_ignore())
        }
        try Self.check(status, "MPI_Recv")
        return values
    }

    /// MPI counts are C ints.
    private static func count(_ count: Int) throws(MixFillError) -> Int32 {
        guard let value = Int32(exactly: count) else {
            throw .runtime(message: "MPI: \(count) values are more than one MPI call carries (\(Int32.max))")
        }
        return value
    }

    private static func check(_ status: Int32, _ call: String) throws(MixFillError) {
        guard status == mixfill_mpi_success() else {
            throw .runtime(message: "MPI: \(call) failed with error \(status)")
        }
    }
}
#endif
