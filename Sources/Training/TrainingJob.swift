import ChildProcesses
import EmotionModel
import Foundation
import ModelContract
import GradientExchange
import Tensor

/// A training run as a whole: one shared-memory segment, N worker processes of a program that runs `RankTrainer`
/// (`emotion-worker train-rank`), watched until all end. The segment's name is removed as soon as every worker has
/// mapped it, so no exit, crash or `kill -9` leaves it behind; a worker that dies makes the job mark the segment, so
/// the others stop at once, and the job fails naming the rank and how it ended. The job folder persists between
/// attempts: a rerun resumes from its checkpoint.
public struct TrainingJob {
    public var settings: TrainingSettings
    public var data: RankAssignment.DataSource
    /// Where checkpoints, metrics and the workers' reports live while training (kept across interrupted runs).
    public var jobDirectory: String
    /// The worker program and the arguments before `--assignment FILE --rank R`.
    public var worker: (executable: String, arguments: [String])
    public var progressLine = false
    /// Child processes here, or MPI ranks on several machines.
    public var launch = TrainingLaunch()
    /// For tests, from `EMOTION_TRAIN_FAULT` (`RANK:STEP:kill|stall|parent`): a worker suffers it before that step.
    public var fault = ProcessInfo.processInfo.environment["EMOTION_TRAIN_FAULT"]

    /// How long a worker waits for the others at the exchange before it names them and stops (`EMOTION_EXCHANGE_TIMEOUT`
    /// shortens it for tests); the job gives the others this long plus 5 s to stop after one fails.
    public static let exchangeTimeout = ProcessInfo.processInfo.environment["EMOTION_EXCHANGE_TIMEOUT"].flatMap(Double.init) ?? 10

    public init(settings: TrainingSettings, data: RankAssignment.DataSource, jobDirectory: String, worker: (executable: String, arguments: [String])) {
        self.settings = settings
        self.data = data
        self.jobDirectory = jobDirectory
        self.worker = worker
    }

    /// Trains to the end; then `best.safetensors`, `last.safetensors`, `metrics.jsonl` and `train.json` are in the
    /// job folder. Throws naming every rank that failed and how.
    public func run() throws {
        var job = self
        do { job.settings.precision = PrecisionSetting(rawValue: try settings.computePrecision().rawValue) }
        catch { throw TrainingError("\(error)") }
        try job.start()
    }

    /// `run` with `auto` resolved.
    private func start() throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: jobDirectory, withIntermediateDirectories: true)
        try? fm.removeItem(atPath: jobDirectory + "/failures")
        if launch.launcher == .mpi { return try runUnderMPI() }
        let ranks = settings.workers
        let threads = settings.threadsPerWorker()
        let size = Replica.parameterCount(fusion: settings.fusion, classes: try data.classes().count)
        let segment = "/emotion-train-\(getpid())-\(UInt64.random(in: 0...UInt64.max) & 0xFFFF_FFFF_FFFF)"
        let exchange = try GradientExchange(creating: segment, ranks: ranks, count: size)
        defer { exchange.unlink() }
        let assignment = RankAssignment(settings: settings, ranks: ranks, segment: segment, jobDirectory: jobDirectory, data: data,
                                        devices: Array(repeating: .cpu(threads: threads), count: ranks), progressLine: progressLine, fault: fault)
        let assignmentPath = JobFiles.assignment(jobDirectory)
        try JSONEncoder().encode(assignment).write(to: URL(fileURLWithPath: assignmentPath), options: .atomic)
        var children: [ChildProcess] = []
        do {
            for rank in 0..<ranks {
                children.append(try ChildProcess(executable: worker.executable,
                                                 arguments: worker.arguments + ["--assignment", assignmentPath, "--rank", String(rank)],
                                                 environment: ["OMP_NUM_THREADS": String(threads)]))
            }
        } catch {
            exchange.abort(onBehalfOf: children.count)
            for child in children { child.wait(killAfter: 10) }
            throw TrainingError("cannot start training worker \(children.count): \(error)")
        }
        try supervise(children, exchange: exchange)
    }

    /// Watches the workers until all have ended. When one fails, the others are told through the segment and given
    /// a bounded time to stop before they are killed.
    private func supervise(_ children: [ChildProcess], exchange: GradientExchange) throws {
        var unlinked = false
        var endings: [Int: ChildProcess.Termination] = [:]
        var failedAt: Date?
        var killed: Set<Int> = []
        while endings.count < children.count {
            if !unlinked && exchange.attached == children.count {
                exchange.unlink()
                unlinked = true
            }
            for (rank, child) in children.enumerated() where endings[rank] == nil {
                guard let ending = child.poll() else { continue }
                endings[rank] = ending
                if !ending.succeeded && failedAt == nil {
                    exchange.abort(onBehalfOf: rank)
                    failedAt = Date()
                }
            }
            // The others stop within their exchange bound once told; one that does not (stalled in its own work) is killed.
            if let failedAt, Date().timeIntervalSince(failedAt) > TrainingJob.exchangeTimeout + 5 {
                for (rank, child) in children.enumerated() where endings[rank] == nil && !killed.contains(rank) {
                    child.signal(SIGKILL)
                    killed.insert(rank)
                }
            }
            usleep(20_000)
        }
        guard endings.values.contains(where: { !$0.succeeded }) else { return }
        throw TrainingError(failureReport(endings, killed: killed))
    }

    /// The workers as MPI ranks, `workers / nodes` on each machine, started by the MPI launcher (one child process of this
    /// one, ended with it); each machine's leader creates and removes its own segment. The launcher ends every rank when
    /// one fails; the report names the rank and host from the ranks' own words or the launcher's.
    private func runUnderMPI() throws {
        let ranks = settings.workers
        guard ranks % launch.nodes == 0 else {
            throw TrainingError("\(ranks) workers do not divide among \(launch.nodes) machines: make workers a multiple of nodes")
        }
        let perNode = ranks / launch.nodes
        let threads = settings.threadsPerWorker(cores: ProcessInfo.processInfo.activeProcessorCount * launch.nodes)
        var assignment = RankAssignment(settings: settings, ranks: ranks, segment: "/emotion-train-\(getpid())-\(UInt64.random(in: 0...UInt64.max) & 0xFFFF_FFFF_FFFF)",
                                        jobDirectory: jobDirectory, data: data, devices: Array(repeating: .cpu(threads: threads), count: ranks),
                                        progressLine: progressLine, fault: fault)
        assignment.nodes = launch.nodes
        let assignmentPath = JobFiles.assignment(jobDirectory)
        try JSONEncoder().encode(assignment).write(to: URL(fileURLWithPath: assignmentPath), options: .atomic)

        var words = launch.command.split(separator: " ").map(String.init)
        let launcher = words.removeFirst()
        guard let launcherPath = ChildProcess.find(launcher) else {
            throw TrainingError("launcher: mpi needs \(launcher), which is not on PATH (Debian: apt-get install openmpi-bin)")
        }
        let environment = ["OMP_NUM_THREADS": String(threads)]
        if (launcher as NSString).lastPathComponent == "srun" {
            words += ["--nodes=\(launch.nodes)", "--ntasks=\(ranks)", "--ntasks-per-node=\(perNode)", "--kill-on-bad-exit=1"]
        } else {
            // Remote machines see only the variables named with -x.
            let forwarded = ["OMP_NUM_THREADS", "EMOTION_EXCHANGE_TIMEOUT", "EMOTION_TRAIN_FAULT"]
                .filter { environment[$0] != nil || ProcessInfo.processInfo.environment[$0] != nil }
            words += ["-np", String(ranks), "--map-by", "ppr:\(perNode):node", "--bind-to", "none"] + forwarded.flatMap { ["-x", $0] }
        }
        words += [worker.executable] + worker.arguments + ["--assignment", assignmentPath, "--mpi"]
        // The launcher's own messages (which rank died where) are kept for the report and passed on.
        // setpriv (util-linux) makes the launcher die with this process, so no training outlives the job.
        let (program, arguments) = ChildProcess.find("setpriv").map { ($0, ["--pdeathsig", "KILL", "--", launcherPath] + words) } ?? (launcherPath, words)
        let pipe = try ChildProcess.makePipe()
        let launched: ChildProcess
        do {
            launched = try ChildProcess(executable: program, arguments: arguments, descriptors: [2: pipe.write], environment: environment,
                                        leaving: TrainingJob.setByMPILauncher)
        } catch {
            close(pipe.read)
            close(pipe.write)
            throw TrainingError("cannot start \(launcher): \(error)")
        }
        close(pipe.write)
        let said = LauncherOutput(pipe.read)
        let ending = launched.wait()
        said.finish()
        guard !ending.succeeded else { return }
        var lines: [String] = []
        for rank in 0..<ranks {
            if let data = FileManager.default.contents(atPath: JobFiles.failure(jobDirectory, rank: rank)),
               let failure = try? JSONDecoder().decode(RankFailure.self, from: data) {
                lines.append("rank \(rank) on \(failure.host): \(failure.message)")
            }
        }
        lines += said.deaths
        throw TrainingError("training failed under MPI (\((launcher as NSString).lastPathComponent) \(ending))" + (lines.isEmpty ? ": " + said.tail : ": " + lines.joined(separator: "; ")))
    }

    /// What an MPI launcher sets for the processes it starts (Open MPI's and PMIx's job variables): a launcher started
    /// from such a process (a training unit of `emotion run --mpi`) would take itself for part of that job. The user's
    /// own settings (`OMPI_MCA_btl...`, `OMPI_ALLOW_RUN_AS_ROOT`) are passed on.
    static func setByMPILauncher(_ name: String) -> Bool {
        if name.hasPrefix("PMIX_") || name.hasPrefix("PMI_") { return true }
        guard name.hasPrefix("OMPI_"), !name.hasPrefix("OMPI_ALLOW_") else { return false }
        guard name.hasPrefix("OMPI_MCA_") else { return true }
        return ["ess", "orte_", "pmix", "initial_wdir", "shmem_RUNTIME", "mpi_oversubscribe"].contains { name.dropFirst(9).hasPrefix($0) }
    }

    /// Every rank's ending in words, the ranks at fault first: those that died, stalled (named by the others' timeouts)
    /// or failed on their own, then those stopped because of them.
    private func failureReport(_ endings: [Int: ChildProcess.Termination], killed: Set<Int>) -> String {
        var reasons: [Int: RankFailure] = [:]
        for rank in endings.keys {
            if let data = FileManager.default.contents(atPath: JobFiles.failure(jobDirectory, rank: rank)),
               let failure = try? JSONDecoder().decode(RankFailure.self, from: data) { reasons[rank] = failure }
        }
        let blamed = Set(reasons.values.flatMap(\.blame))
        func line(_ rank: Int) -> String {
            var text = "rank \(rank) \(endings[rank]!)"
            if let reason = reasons[rank] { text += ": \(reason.message)" }
            if killed.contains(rank) { text += " (it stopped answering: killed by the job after the others gave up)" }
            return text
        }
        let atFault = endings.keys.sorted().filter { rank in
            endings[rank]! != .exited(0) && (reasons[rank] == nil || reasons[rank]!.blame.isEmpty) || blamed.contains(rank)
        }
        let others = endings.keys.sorted().filter { !atFault.contains($0) }
        return "training failed: " + atFault.map(line).joined(separator: "; ")
            + (others.isEmpty ? "" : "\n  then: " + others.map(line).joined(separator: "; "))
    }
}

/// What an MPI launcher writes on its standard error, passed on to this process's and read for the report.
private final class LauncherOutput: @unchecked Sendable {
    private var text = ""
    private let lock = NSLock()
    private let done = DispatchSemaphore(value: 0)

    init(_ fd: Int32) {
        Thread { [self] in
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let n = read(fd, &buffer, buffer.count)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { break }
                FileHandle.standardError.write(Data(buffer[0..<n]))
                lock.lock()
                text += String(decoding: buffer[0..<n], as: UTF8.self)
                if text.utf8.count > 1 << 20 { text = String(text.suffix(1 << 19)) }
                lock.unlock()
            }
            close(fd)
            done.signal()
        }.start()
    }

    func finish() { done.wait() }

    /// Open MPI's account of a rank that died: "process rank 1 with PID 42 on node b exited on signal 9 (Killed)".
    var deaths: [String] {
        lock.lock()
        defer { lock.unlock() }
        let flat = text.split(whereSeparator: \.isNewline).joined(separator: " ")
        var found: [String] = []
        let pattern = try! NSRegularExpression(pattern: "process rank (\\d+) with PID \\d+ on node (\\S+) exited on signal (\\d+)")
        for match in pattern.matches(in: flat, range: NSRange(flat.startIndex..., in: flat)) {
            let field = { (i: Int) in String(flat[Range(match.range(at: i), in: flat)!]) }
            let line = "rank \(field(1)) on \(field(2)) died of \(ChildProcess.signalName(Int32(field(3)) ?? 0))"
            if !found.contains(line) { found.append(line) }
        }
        return found
    }

    /// The last lines it wrote, when nothing more precise is known.
    var tail: String {
        lock.lock()
        defer { lock.unlock() }
        return text.split(whereSeparator: \.isNewline).suffix(5).joined(separator: " / ")
    }
}

extension Replica {
    /// Floats in a model's parameter buffer: the exchange's size.
    static func parameterCount(fusion: Fusion, classes: Int) -> Int {
        EmotionModel(fusion: fusion, classes: classes).parameters.reduce(0) { $0 + $1.count }
    }
}

/// The worker program's side: the rank's loop, run from `emotion-worker train-rank --assignment FILE --rank R`, or
/// `--mpi` when an MPI launcher started it on one of several machines.
public enum TrainingWorker {
    public static func run(assignment path: String, rank: Int) throws {
        ChildProcess.exitWithParent()
        let assignment = try RankAssignment.read(path)
        let exchange = try GradientExchange(attaching: assignment.segment, rank: rank)
        try RankTrainer(assignment, rank: rank, exchange: exchange).run()
    }

    public static func runUnderMPI(assignment path: String) throws {
        let assignment = try RankAssignment.read(path)
        let count = Replica.parameterCount(fusion: assignment.settings.fusion, classes: try assignment.data.classes().count)
        let job = assignment.jobDirectory
        let rankBox = RankBox()
        let exchange = try HierarchicalExchange(segment: assignment.segment, ranks: assignment.ranks, nodes: assignment.nodes, count: count) { message in
            RankFailure(message: message, blame: []).record(job: job, rank: rankBox.rank)
            FileHandle.standardError.write(Data("training worker \(rankBox.rank) on \(ProcessInfo.processInfo.hostName): \(message)\n".utf8))
        }
        rankBox.rank = exchange.rank
        try RankTrainer(assignment, rank: exchange.rank, exchange: exchange).run()
        exchange.finish()
    }

    /// The rank, known once the exchange is joined, for the watchdog's message.
    private final class RankBox: @unchecked Sendable { var rank = -1 }
}

extension RankAssignment {
    static func read(_ path: String) throws -> RankAssignment {
        try JSONDecoder().decode(RankAssignment.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }
}
