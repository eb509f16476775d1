import Foundation
import MPI
import Pipeline

/// `emotion run --mpi` under mpirun or srun: rank 0 plans, runs and records the pipeline as on one machine, and every
/// other rank serves `jobs` of its units at once in its own worker processes, writing into the one workspace on a
/// shared filesystem. Rank 0 alone holds the workspace lock and publishes results, so a run is one run however many
/// processes it has, and its outputs are the bytes a one-machine run makes (the same code computes every unit).
public enum MPIRun {
    /// On rank 0, `body` runs the pipeline with the other ranks' slots; on the others, units are served until rank 0 is
    /// done (also when `body` throws).
    public static func run(jobs: Int, isolation: UnitIsolation, registry: StageRegistry, _ body: (RemoteUnits?) throws -> Void) throws {
        let world = try MPIJob.start(serialized: true)
        let link = Link(world)
        defer { MPIJob.finish() }
        guard world.rank == 0 else {
            return try serve(link, jobs: jobs, server: UnitServer(isolation: isolation, registry: registry))
        }
        // Every rank serves as many units at once as this one (-j): tags 1...jobs on each.
        let units = world.size > 1 ? MPIUnits(link, hosts: try world.allGather(MPIJob.processorName), jobs: jobs) : nil
        defer { units?.stop() }
        try body(units)
    }

    /// A rank's `jobs` threads, each taking its tag's units from rank 0 until an empty message says the run is over.
    private static func serve(_ link: Link, jobs: Int, server: UnitServer) throws {
        _ = try link.world.allGather(MPIJob.processorName)
        let failure = FirstFailure()
        let done = DispatchGroup()
        for tag in 1...jobs {
            done.enter()
            Thread {
                defer { done.leave() }
                do {
                    while true {
                        let request = try link.receive(from: 0, tag: tag)
                        if request.isEmpty { return }
                        try link.send(server.serve(Data(request)), to: 0, tag: tag)
                    }
                } catch {
                    failure.keep(error)
                }
            }.start()
        }
        done.wait()
        if let error = failure.error { throw error }
    }
}

/// The other ranks' slots as rank 0's runner sees them: slot s is tag s % jobs + 1 of rank s / jobs + 1.
final class MPIUnits: RemoteUnits, @unchecked Sendable {
    private let link: Link
    private let hosts: [String]
    private let jobs: Int
    let slots: Int
    private let lock = NSLock()
    private var ran: [Int]

    init(_ link: Link, hosts: [String], jobs: Int) {
        self.link = link
        self.hosts = hosts
        self.jobs = jobs
        slots = (link.world.size - 1) * jobs
        ran = Array(repeating: 0, count: link.world.size)
    }

    func run(request: Data, slot: Int) throws -> Data {
        let (rank, tag) = (slot / jobs + 1, slot % jobs + 1)
        do {
            try link.send(request, to: rank, tag: tag)
            let reply = Data(try link.receive(from: rank, tag: tag))
            lock.lock()
            ran[rank] += 1
            lock.unlock()
            return reply
        } catch {
            throw PipelineError(.stageFailed, "MPI rank \(rank) on \(hosts[rank]): \(error)")
        }
    }

    /// Tells every serving thread of every rank that the run is over, and says how many units each ran.
    func stop() {
        let counts = (1..<link.world.size).map { "rank \($0) on \(hosts[$0]) ran \(ran[$0])" }
        FileHandle.standardError.write(Data("mpi: units on the other ranks: \(counts.joined(separator: ", "))\n".utf8))
        for rank in 1..<link.world.size {
            for tag in 1...jobs { try? link.send(Data(), to: rank, tag: tag) }
        }
    }
}

/// The job's communicator shared by several threads, one call at a time, none holding it while it waits.
final class Link: @unchecked Sendable {
    let world: Communicator
    private let lock = NSLock()

    init(_ world: Communicator) { self.world = world }

    func send(_ data: Data, to rank: Int, tag: Int) throws {
        try data.withUnsafeBytes { bytes in
            let pending = try locked { try world.startSend(bytes, to: rank, tag: tag) }
            while try !locked({ try pending.done() }) { usleep(200) }
        }
    }

    func receive(from rank: Int, tag: Int) throws -> [UInt8] {
        while true {
            if let bytes = try locked({ try world.receiveIfArrived(from: rank, tag: tag) }) { return bytes }
            usleep(500)
        }
    }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }
}

private final class FirstFailure: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var error: Error?

    func keep(_ error: Error) {
        lock.lock()
        if self.error == nil { self.error = error }
        lock.unlock()
    }
}
