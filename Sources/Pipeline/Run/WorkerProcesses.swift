import ChildProcesses
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs units the way `UnitIsolation` says: on the calling thread, or in a child process of the worker
/// command, reused from unit to unit and replaced when one dies. The runner's pool threads call `run`; each
/// unit has a process of its own for its whole duration.
final class UnitExecutor: @unchecked Sendable {
    private let isolation: UnitIsolation
    private let lock = NSLock()
    private var idle: [WorkerProcess] = []
    /// With other machines' slots: this machine's units at once, how many run here now, and the free remote slots.
    private let jobs: Int
    private let remote: RemoteUnits?
    private var busyHere = 0
    private var freeRemote: [Int]

    init(_ isolation: UnitIsolation, jobs: Int = .max, remote: RemoteUnits? = nil) {
        self.isolation = isolation
        self.jobs = jobs
        self.remote = remote
        freeRemote = Array((0..<(remote?.slots ?? 0)).reversed())
    }

    /// Runs the unit here while fewer than `jobs` do, else in a free remote slot (the pool has a thread for each).
    func run(_ request: UnitRequest, kind: StageKind) throws {
        guard let remote else { return try runHere(request, kind: kind) }
        lock.lock()
        let slot = busyHere < jobs ? nil : freeRemote.popLast()
        if slot == nil { busyHere += 1 }
        lock.unlock()
        defer {
            lock.lock()
            if let slot { freeRemote.append(slot) } else { busyHere -= 1 }
            lock.unlock()
        }
        guard let slot else { return try runHere(request, kind: kind) }
        let line = try remote.run(request: try JSONEncoder().encode(request), slot: slot)
        let reply = try JSONDecoder().decode(UnitReply.self, from: line)
        if let failure = reply.failure { throw PipelineError(.stageFailed, failure) }
    }

    private func runHere(_ request: UnitRequest, kind: StageKind) throws {
        guard case .processes(let command) = isolation else {
            try WorkerLoop.perform(request, kind: kind)
            return
        }
        lock.lock()
        let reused = idle.popLast()
        lock.unlock()
        let worker = try reused ?? WorkerProcess(command)
        do {
            try worker.run(request)
        } catch let error as WorkerProcess.Died {
            throw PipelineError(.stageFailed, error.description)
        }
        lock.lock()
        idle.append(worker)
        lock.unlock()
    }

    /// Ends every idle worker (they exit when their request pipe closes).
    func close() {
        lock.lock()
        let workers = idle
        idle = []
        lock.unlock()
        for worker in workers { worker.stop() }
    }
}

/// The other side of `RemoteUnits`: runs the units that arrive as request lines in this machine's worker processes
/// (or threads) and answers with reply lines, a crash costing only its unit as in the runner.
public final class UnitServer: Sendable {
    private let executor: UnitExecutor
    private let registry: StageRegistry

    public init(isolation: UnitIsolation, registry: StageRegistry) {
        executor = UnitExecutor(isolation)
        self.registry = registry
    }

    deinit { executor.close() }

    public func serve(_ line: Data) -> Data {
        var reply = UnitReply(failure: nil)
        do {
            let request = try JSONDecoder().decode(UnitRequest.self, from: line)
            guard let kind = registry[request.kind] else { throw PipelineError(.unknownKind, "no stage kind '\(request.kind)' here") }
            try executor.run(request, kind: kind)
        } catch {
            reply.failure = fileErrorMessage(error) ?? "\(error)"
        }
        return (try? JSONEncoder().encode(reply)) ?? Data()
    }
}

/// One child process serving units: requests go to its fd 3 and replies come from its fd 4, a JSON line each;
/// its standard output and error go to the runner's standard error.
final class WorkerProcess {
    /// How a worker ended while it held a unit.
    struct Died: Error, CustomStringConvertible {
        var description: String
    }

    private let process: ChildProcess
    private let requests: Int32
    private let replies: Int32
    private var pending = Data()
    private var stopped = false

    init(_ command: WorkerCommand) throws {
        do {
            let toChild = try ChildProcess.makePipe(), fromChild = try ChildProcess.makePipe()
            defer { Glibc.close(toChild.read); Glibc.close(fromChild.write) }
            do {
                process = try ChildProcess(executable: command.executable, arguments: command.arguments,
                                           descriptors: [3: toChild.read, 4: fromChild.write, 1: 2])
            } catch {
                Glibc.close(toChild.write); Glibc.close(fromChild.read)
                throw error
            }
            requests = toChild.write
            replies = fromChild.read
        } catch let error as ChildProcessError {
            throw PipelineError(.io, "the worker: \(error)")
        }
    }

    deinit { stop() }

    /// Sends one unit and waits for its reply, at most its time limit.
    func run(_ request: UnitRequest) throws {
        var line = try JSONEncoder().encode(request)
        line.append(0x0A)
        let what = "stage '\(request.stage)'"
        guard line.withUnsafeBytes({ writeAll(requests, $0) }) else { throw Died(description: ended("before it took \(what)", request)) }
        let deadline = request.limits.seconds.map { Date(timeIntervalSinceNow: $0) }
        while true {
            if let newline = pending.firstIndex(of: 0x0A) {
                let reply = try JSONDecoder().decode(UnitReply.self, from: pending[pending.startIndex..<newline])
                pending.removeSubrange(pending.startIndex...newline)
                if let failure = reply.failure { throw PipelineError(.stageFailed, failure) }
                return
            }
            let remaining = deadline.map { max(0, $0.timeIntervalSinceNow) }
            if let remaining, remaining == 0 {
                process.signal(SIGKILL)
                _ = reap()
                throw Died(description: "stopped after its time limit of \(format(request.limits.seconds ?? 0)) s in \(what)")
            }
            var poller = pollfd(fd: replies, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, remaining.map { Int32(min($0 * 1000 + 1, 60_000)) } ?? 60_000)
            if ready < 0 && errno != EINTR { throw PipelineError(.io, "cannot wait for the worker: \(String(cString: strerror(errno)))") }
            guard ready > 0 else { continue }
            var buffer = [UInt8](repeating: 0, count: 65_536)
            let count = read(replies, &buffer, buffer.count)
            if count > 0 {
                pending.append(contentsOf: buffer[0..<count])
            } else if count == 0 || errno != EINTR {
                throw Died(description: ended("in \(what)", request))
            }
        }
    }

    /// How the process ended, once it has: its signal or exit status, and the memory limit when it had one.
    private func ended(_ when: String, _ request: UnitRequest) -> String {
        var text = "the worker process " + (reap().map(\.description) ?? "ended") + " " + when
        if let megabytes = request.limits.memoryMB { text += " (its memory limit: \(megabytes) MiB)" }
        return text
    }

    /// Closes the pipes and waits for the process to end, killing it if it has not within 5 s of losing its
    /// requests; how it ended, or nil when it was already reaped.
    private func reap() -> ChildProcess.Termination? {
        guard !stopped else { return nil }
        stopped = true
        Glibc.close(requests)
        Glibc.close(replies)
        return process.wait(killAfter: 5)
    }

    /// Closes the request pipe, which the worker takes as the end of its work, and waits for it.
    func stop() { _ = reap() }

    private func format(_ seconds: Double) -> String { seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds) }
}

/// The worker's side: reads units from fd 3, runs each with the stage kinds it was given, answers on fd 4,
/// and returns when the runner closes fd 3.
public enum WorkerLoop {
    public static func serve(registry: StageRegistry) -> Int32 {
        // A runner that died leaves a closed reply pipe: a write error, not a signal.
        signal(SIGPIPE, SIG_IGN)
        // A worker outlives no runner: when the runner is gone (even by SIGKILL), its unit is abandoned within 20 ms.
        ChildProcess.exitWithParent()
        var pending = Data()
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            while let newline = pending.firstIndex(of: 0x0A) {
                let line = pending[pending.startIndex..<newline]
                var reply = UnitReply(failure: nil)
                do {
                    let request = try JSONDecoder().decode(UnitRequest.self, from: line)
                    guard let kind = registry[request.kind] else { throw PipelineError(.unknownKind, "this worker has no stage kind '\(request.kind)'") }
                    try withMemoryLimit(request.limits.memoryMB) { try perform(request, kind: kind) }
                } catch {
                    reply.failure = fileErrorMessage(error) ?? "\(error)"
                }
                pending.removeSubrange(pending.startIndex...newline)
                guard var answer = try? JSONEncoder().encode(reply) else { return 1 }
                answer.append(0x0A)
                guard answer.withUnsafeBytes({ writeAll(4, $0) }) else { return 1 }
            }
            let count = read(3, &buffer, buffer.count)
            if count > 0 {
                pending.append(contentsOf: buffer[0..<count])
            } else if count == 0 || errno != EINTR {
                return 0
            }
        }
    }

    /// Runs one unit here, on the calling thread: in a worker, or in the runner itself with `.threads`.
    static func perform(_ request: UnitRequest, kind: StageKind) throws {
        guard let code = kind.body else {
            throw PipelineError(.unknownKind, "stage kind '\(kind.name)' is only declared in this program; its code runs in the worker program")
        }
        let params = try kind.params(request.params, for: request.stage)
        switch code {
        case .whole(let body):
            try body(StageContext(stage: request.stage, params: params, inputs: request.inputs, outputDirectory: request.outputDirectory,
                                  workspace: request.workspace, resumeDirectory: request.resumeDirectory))
        case .map(let body):
            guard let item = request.item else { throw PipelineError(.stageFailed, "stage '\(request.stage)' maps over items, but no item came") }
            try body(ItemContext(id: item.id, files: item.files, members: item.members ?? [], stage: request.stage, params: params, inputs: request.inputs,
                                 outputDirectory: request.outputDirectory, workspace: request.workspace, resumeDirectory: request.resumeDirectory))
        }
    }

    /// The process's address space now, in bytes (`VmSize` of /proc/self/status).
    private static func addressSpace() -> rlim_t {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmSize:") }),
              let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ rlim_t($0) }) else { return 0 }
        return kilobytes << 10
    }

    /// Runs `body` with the address space it may add to the process limited to `megabytes`, then lifts the limit.
    private static func withMemoryLimit(_ megabytes: Int?, _ body: () throws -> Void) throws {
        guard let megabytes else { return try body() }
        var limit = rlimit(rlim_cur: addressSpace() + (rlim_t(megabytes) << 20), rlim_max: rlim_t.max)
        setrlimit(Int32(RLIMIT_AS.rawValue), &limit)
        defer {
            limit.rlim_cur = rlim_t.max
            setrlimit(Int32(RLIMIT_AS.rawValue), &limit)
        }
        try body()
    }
}
