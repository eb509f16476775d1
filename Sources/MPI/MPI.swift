import CMPI
import Foundation

/// A failed MPI call, with the library's own words for the error.
public struct MPIError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }

    static func check(_ code: Int32, _ call: String) throws {
        guard code != MPI_SUCCESS else { return }
        var text = [CChar](repeating: 0, count: Int(cmpi_max_error_string()) + 1)
        var length: Int32 = 0
        MPI_Error_string(code, &text, &length)
        throw MPIError("\(call) failed: \(String(cString: text))")
    }
}

/// This process's membership of an MPI job: started once, by a process that a launcher (mpirun, srun) started.
/// Only the main thread calls MPI (MPI_THREAD_FUNNELED), errors come back as `MPIError` instead of ending the job.
public enum MPIJob {
    /// Whether an MPI launcher started this process (Open MPI, PMIx or Slurm's PMI set these).
    public static var launched: Bool {
        let environment = ProcessInfo.processInfo.environment
        return ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"].contains { environment[$0] != nil }
    }

    /// Joins the job and returns the communicator of every process in it. `serialized`: more than one thread may call
    /// MPI, one at a time (the caller's lock); otherwise only the main thread does.
    public static func start(serialized: Bool = false) throws -> Communicator {
        var initialized: Int32 = 0
        MPI_Initialized(&initialized)
        if initialized == 0 {
            var provided: Int32 = 0
            var argc: Int32 = 0
            var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = nil
            let wanted = serialized ? cmpi_thread_serialized() : cmpi_thread_funneled()
            try MPIError.check(MPI_Init_thread(&argc, &argv, wanted, &provided), "MPI_Init_thread")
            guard provided >= wanted else { throw MPIError("this MPI library cannot let several threads call it (level \(provided) < \(wanted))") }
        }
        let world = cmpi_comm_world()!
        try MPIError.check(MPI_Comm_set_errhandler(world, cmpi_errors_return()), "MPI_Comm_set_errhandler")
        return try Communicator(world, owned: false)
    }

    /// Leaves the job in order (every process calls it): the launcher then counts this process as finished.
    public static func finish() { MPI_Finalize() }

    /// The name MPI gives this process's node (its host name).
    public static var processorName: String {
        var name = [CChar](repeating: 0, count: Int(cmpi_max_processor_name()) + 1)
        var length: Int32 = 0
        guard MPI_Get_processor_name(&name, &length) == MPI_SUCCESS else { return ProcessInfo.processInfo.hostName }
        return String(cString: name)
    }
}

/// A send under way.
public final class PendingSend: @unchecked Sendable {
    private var request: MPI_Request?

    init(request: MPI_Request?) { self.request = request }

    /// Whether the message has left (its buffer may be reused).
    public func done() throws -> Bool {
        var flag: Int32 = 0
        var status = MPI_Status()
        try MPIError.check(MPI_Test(&request, &flag, &status), "MPI_Test")
        return flag != 0
    }
}

/// A group of processes of the job and the collective operations over it, each a blocking call every member makes.
public final class Communicator: @unchecked Sendable {
    let handle: MPI_Comm
    private let owned: Bool
    public let rank: Int
    public let size: Int

    init(_ handle: MPI_Comm, owned: Bool) throws {
        self.handle = handle
        self.owned = owned
        var rank: Int32 = 0, size: Int32 = 0
        try MPIError.check(MPI_Comm_rank(handle, &rank), "MPI_Comm_rank")
        try MPIError.check(MPI_Comm_size(handle, &size), "MPI_Comm_size")
        self.rank = Int(rank)
        self.size = Int(size)
    }

    /// After `MPIJob.finish` nothing may be freed: the job's end took every communicator with it.
    deinit {
        var finalized: Int32 = 0
        MPI_Finalized(&finalized)
        var handle: MPI_Comm? = self.handle
        if owned && finalized == 0 { MPI_Comm_free(&handle) }
    }

    /// The members that share this one's node (its memory), ranked as here.
    public func node() throws -> Communicator {
        var result: MPI_Comm? = nil
        try MPIError.check(MPI_Comm_split_type(handle, cmpi_comm_type_shared(), Int32(rank), cmpi_info_null(), &result), "MPI_Comm_split_type")
        return try Communicator(result!, owned: true)
    }

    /// The members that pass the same `color`, ranked by `key`; nil for those that pass nil (they join no group).
    public func split(color: Int?, key: Int) throws -> Communicator? {
        var result: MPI_Comm? = nil
        try MPIError.check(MPI_Comm_split(handle, color.map(Int32.init) ?? cmpi_undefined(), Int32(key), &result), "MPI_Comm_split")
        guard let result, result != cmpi_comm_null() else { return nil }
        return try Communicator(result, owned: true)
    }

    /// Replaces `values` in every member by their element-wise sum over the members.
    public func allReduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws {
        try chunks(values.count) { offset, count in
            try MPIError.check(MPI_Allreduce(cmpi_in_place(), values.baseAddress! + offset, count, cmpi_float(), cmpi_sum(), handle), "MPI_Allreduce")
        }
    }

    /// The largest of each member's `value`.
    public func allReduceMax(_ value: Int64) throws -> Int64 {
        var value = value
        try MPIError.check(MPI_Allreduce(cmpi_in_place(), &value, 1, cmpi_int64(), cmpi_max(), handle), "MPI_Allreduce")
        return value
    }

    /// Replaces `bytes` in every member by `root`'s.
    public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws {
        try chunks(bytes.count) { offset, count in
            try MPIError.check(MPI_Bcast(bytes.baseAddress! + offset, count, cmpi_byte(), Int32(root), handle), "MPI_Bcast")
        }
    }

    /// Every member's `text`, in rank order (host names, for messages that name where a rank runs).
    public func allGather(_ text: String) throws -> [String] {
        var mine = Array(text.utf8.prefix(255)) + [UInt8](repeating: 0, count: 256 - min(text.utf8.count, 255))
        var all = [UInt8](repeating: 0, count: 256 * size)
        try MPIError.check(MPI_Allgather(&mine, 256, cmpi_byte(), &all, 256, cmpi_byte(), handle), "MPI_Allgather")
        return (0..<size).map { member in
            let bytes = all[member * 256..<(member + 1) * 256]
            return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    public func barrier() throws { try MPIError.check(MPI_Barrier(handle), "MPI_Barrier") }

    // Point to point, without blocking: a caller that shares the job between threads (one at a time) polls these
    // between short sleeps, so no thread holds the library while it waits for another process.

    /// Starts sending `bytes` to `destination` with `tag`; poll `done` on the result until it says so (keep `bytes` alive).
    public func startSend(_ bytes: UnsafeRawBufferPointer, to destination: Int, tag: Int) throws -> PendingSend {
        var request: MPI_Request? = nil
        try MPIError.check(MPI_Isend(bytes.baseAddress, Int32(bytes.count), cmpi_byte(), Int32(destination), Int32(tag), handle, &request), "MPI_Isend")
        return PendingSend(request: request)
    }

    /// The message from `source` with `tag` if one has arrived; nil if none yet.
    public func receiveIfArrived(from source: Int, tag: Int) throws -> [UInt8]? {
        var flag: Int32 = 0
        var message: MPI_Message? = nil
        var status = MPI_Status()
        try MPIError.check(MPI_Improbe(Int32(source), Int32(tag), handle, &flag, &message, &status), "MPI_Improbe")
        guard flag != 0 else { return nil }
        var count: Int32 = 0
        try MPIError.check(MPI_Get_count(&status, cmpi_byte(), &count), "MPI_Get_count")
        var bytes = [UInt8](repeating: 0, count: Int(count))
        try MPIError.check(MPI_Mrecv(&bytes, count, cmpi_byte(), &message, &status), "MPI_Mrecv")
        return bytes
    }

    /// MPI counts are 32-bit: a larger buffer goes in pieces.
    private func chunks(_ total: Int, _ body: (Int, Int32) throws -> Void) throws {
        let most = Int(Int32.max) / 4
        var offset = 0
        while offset < total {
            let count = min(most, total - offset)
            try body(offset, Int32(count))
            offset += count
        }
    }
}
