import ChildProcesses
import EmotionModel
import Foundation
import GradientExchange

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
        let fm = FileManager.default
        try fm.createDirectory(atPath: jobDirectory, withIntermediateDirectories: true)
        try? fm.removeItem(atPath: jobDirectory + "/failures")
        let ranks = settings.workers
        let threads = settings.threadsPerWorker()
        let size = Replica.parameterCount(fusion: settings.fusion)
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

extension Replica {
    /// Floats in a model's parameter buffer: the exchange's size.
    static func parameterCount(fusion: String) -> Int {
        EmotionModel(fusion: Fusion(rawValue: fusion)!).parameters.reduce(0) { $0 + $1.count }
    }
}

/// The worker program's side: the rank's loop, run from `emotion-worker train-rank --assignment FILE --rank R`.
public enum TrainingWorker {
    public static func run(assignment path: String, rank: Int) throws {
        ChildProcess.exitWithParent()
        let assignment = try JSONDecoder().decode(RankAssignment.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        try RankTrainer(assignment, rank: rank).run()
    }
}
