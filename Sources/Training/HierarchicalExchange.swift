import Foundation
import GradientExchange
import MPI

/// Training workers on several machines: each machine's workers exchange through one shared-memory segment as on a
/// single machine, and one leader per machine (its local rank 0) joins an MPI all-reduce of the machine's sum. So a
/// reduction is: sum within the machine in local rank order, sum across machines (MPI), share within the machine; with
/// one worker per machine it is the same sum, bit for bit, as those workers on one machine.
///
/// Each process is an MPI rank (mpirun or srun starts them all, `ranks / nodes` per machine). A leader's MPI call has no
/// timeout of its own, so a watchdog ends the process when one outlasts the exchange's bound: a stalled machine stops the
/// job, which the launcher then ends everywhere.
public final class HierarchicalExchange: WorkerExchange {
    /// This worker's rank among all (machine by machine) and the host it runs on.
    public let rank: Int
    public let host: String
    /// Every rank's host, in rank order: failures name where a rank ran.
    public let hosts: [String]
    public let nodes: Int
    private let local: GradientExchange
    private let leaders: Communicator?
    private let watchdog: Watchdog

    /// Joins the MPI job and this machine's segment (`segment` plus the machine's index), created by its local rank 0.
    /// `onStall` runs, then the process exits, when an MPI operation outlasts its bound.
    public init(segment: String, ranks: Int, nodes: Int, count: Int, onStall: @escaping @Sendable (String) -> Void) throws {
        let world = try MPIJob.start()
        guard world.size == ranks else {
            throw TrainingError("the MPI launcher started \(world.size) processes for \(ranks) workers: start as many as the train stage's workers")
        }
        let node = try world.node()
        let leaders = try world.split(color: node.rank == 0 ? 0 : nil, key: world.rank)
        var facts = [Int64(leaders?.rank ?? 0), Int64(leaders?.size ?? 0)]
        try facts.withUnsafeMutableBytes { try node.broadcast($0, root: 0) }
        let (index, machines) = (Int(facts[0]), Int(facts[1]))
        let largest = try world.allReduceMax(Int64(node.size))
        guard machines == nodes, Int(largest) * nodes == ranks, node.size * nodes == ranks else {
            throw TrainingError("the MPI launcher placed \(ranks) workers on \(machines) machine(s) (\(node.size) on this one): "
                                + "the train stage asks for \(nodes) machines with \(ranks / max(nodes, 1)) workers each")
        }
        rank = index * node.size + node.rank
        host = MPIJob.processorName
        hosts = try world.allGather(host)
        self.nodes = nodes
        // The segment is created and its name removed around two barriers of the machine's ranks, so nothing is left of it.
        let name = "\(segment)-node\(index)"
        var creator: GradientExchange?
        if node.rank == 0 { creator = try GradientExchange(creating: name, ranks: node.size, count: count) }
        try node.barrier()
        local = try GradientExchange(attaching: name, rank: node.rank)
        try node.barrier()
        creator?.unlink()
        creator = nil
        self.leaders = leaders
        watchdog = Watchdog(onStall: onStall)
    }

    /// Leaves the MPI job in order; only after training ended well (a failed rank exits, and the launcher ends the rest).
    public func finish() { MPIJob.finish() }

    public var homeBuffer: UnsafeMutableBufferPointer<Float> { local.homeBuffer }

    public func reduceHome(within range: Range<Int>?, scale: Float, timeout: Double) throws {
        let range = range ?? 0..<local.count
        try local.reduceHome(within: range, scale: 1, timeout: timeout)
        if let leaders {
            let part = UnsafeMutableBufferPointer(rebasing: homeBuffer[range])
            try watchdog.bounded(timeout, "the all-reduce across machines") { try leaders.allReduceSum(part) }
            if scale != 1 { for i in part.indices { part[i] *= scale } }
        }
        try local.shareHome(from: 0, within: range, timeout: timeout)
    }

    public func allReduce(_ values: UnsafeMutableBufferPointer<Float>, timeout: Double) throws {
        try local.allReduce(values, timeout: timeout)
        if let leaders { try watchdog.bounded(timeout, "the all-reduce across machines") { try leaders.allReduceSum(values) } }
        try local.broadcast(values, from: 0, timeout: timeout)
    }

    /// Only rank 0 (machine 0's leader) broadcasts: the training loop's initial state and running statistics.
    public func broadcast(_ values: UnsafeMutableBufferPointer<Float>, from root: Int, timeout: Double) throws {
        precondition(root == 0, "a broadcast across machines comes from rank 0")
        if let leaders {
            try watchdog.bounded(timeout, "the broadcast across machines") { try leaders.broadcast(UnsafeMutableRawBufferPointer(values), root: 0) }
        }
        try local.broadcast(values, from: 0, timeout: timeout)
    }

    /// Shares are a machine's: each machine's ranks split the pass, every machine doing it whole on the same sums.
    public func share(of range: Range<Int>) -> Range<Int> { local.share(of: range) }

    public func gatherShares(_ values: UnsafeMutableBufferPointer<Float>, within range: Range<Int>, timeout: Double) throws {
        try local.gatherShares(values, within: range, timeout: timeout)
    }

    public func abort(onBehalfOf failed: Int?) { local.abort(onBehalfOf: failed) }
}

/// Ends the process when an operation outlasts its bound: an MPI call cannot be interrupted.
private final class Watchdog: @unchecked Sendable {
    private let lock = NSLock()
    private var deadline: Date?
    private var what = ""
    private var seconds = 0.0
    private let onStall: @Sendable (String) -> Void

    init(onStall: @escaping @Sendable (String) -> Void) {
        self.onStall = onStall
        let thread = Thread { [self] in
            while true {
                usleep(100_000)
                lock.lock()
                let expired = deadline.map { Date() > $0 } ?? false
                let (what, seconds) = (self.what, self.seconds)
                lock.unlock()
                if expired {
                    self.onStall("\(what) did not complete within \(seconds) s (a rank on another machine stalled or died)")
                    _exit(1)
                }
            }
        }
        thread.start()
    }

    func bounded<T>(_ seconds: Double, _ what: String, _ body: () throws -> T) throws -> T {
        lock.lock()
        (deadline, self.what, self.seconds) = (Date(timeIntervalSinceNow: seconds), what, seconds)
        lock.unlock()
        defer {
            lock.lock()
            deadline = nil
            lock.unlock()
        }
        return try body()
    }
}
