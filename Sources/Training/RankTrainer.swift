import Dataset
import EmotionModel
import Foundation
import Labels
import ModelContract
import GradientExchange
import Metrics
import NN
import Tensor

/// What one worker process is given: the settings, its rank, the segment to attach, its data and its device, and
/// the job folder where rank 0 keeps checkpoints and metrics and every rank leaves its digests and its failure.
public struct RankAssignment: Codable, Sendable {
    public enum DataSource: Codable, Sendable {
        /// A split's `index.json` for train and dev, and where each shard path they name is on disk.
        case shards(trainIndex: String, devIndex: String, locations: [String: String])
        /// Generated clips of this shape and classes; with `faceFeatures`, the trunk's features stand for their frames (a frozen trunk).
        case synthetic(clips: Int, classes: LabelSet, frames: Int, size: Int, faceFeatures: Bool)

        /// The classes the model predicts: the training split's label set, which sizes the classifier (and so the
        /// exchange's buffer) before any worker reads a batch.
        public func classes() throws -> LabelSet {
            switch self {
            case .shards(let trainIndex, _, _): return try ShardIndex.read(trainIndex).classes
            case .synthetic(_, let classes, _, _, _): return classes
            }
        }
    }

    public var settings: TrainingSettings
    public var ranks: Int
    public var segment: String
    public var jobDirectory: String
    public var data: DataSource
    public var devices: [Device]
    /// Print a progress line on standard error (rank 0, on a terminal).
    public var progressLine: Bool
    /// For tests: `RANK:STEP:kill|stall|parent` makes that rank kill itself, hang, or kill the job, before that step.
    public var fault: String?
    /// Machines the ranks run on (`ranks / nodes` each), joined by MPI when more than one; `segment` is then the stem of each
    /// machine's segment name.
    public var nodes = 1

    public func loadData() throws -> TrainingData {
        switch data {
        case let .shards(trainIndex, devIndex, locations):
            return try ShardTrainingData(trainIndex: trainIndex, devIndex: devIndex, settings: settings) { locations[$0] ?? $0 }
        case let .synthetic(clips, classes, frames, size, faceFeatures):
            return SyntheticTrainingData(clips: clips, classes: classes, frames: frames, size: size, melFrames: settings.melFrames, faceFeatures: faceFeatures)
        }
    }
}

/// The job folder's files.
enum JobFiles {
    static func checkpoint(_ job: String) -> String { job + "/checkpoint.safetensors" }
    static func best(_ job: String) -> String { job + "/best.safetensors" }
    static func last(_ job: String) -> String { job + "/last.safetensors" }
    static func metrics(_ job: String) -> String { job + "/metrics.jsonl" }
    static func summary(_ job: String) -> String { job + "/train.json" }
    static func log(_ job: String) -> String { job + "/train.log" }
    static func digests(_ job: String, rank: Int) -> String { job + "/digests/rank-\(rank).txt" }
    static func failure(_ job: String, rank: Int) -> String { job + "/failures/rank-\(rank).json" }
    static func assignment(_ job: String) -> String { job + "/assignment.json" }
}

/// Why a rank stopped, as it tells the job: its words and the ranks it holds responsible.
struct RankFailure: Codable {
    var message: String
    var blame: [Int]
    /// Where the rank ran: across machines, the report names the host.
    var host = ProcessInfo.processInfo.hostName

    /// Leaves it in the job folder, where the job reads it when the rank has ended.
    func record(job: String, rank: Int) {
        let path = JobFiles.failure(job, rank: rank)
        try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try? JSONEncoder().encode(self).write(to: URL(fileURLWithPath: path))
    }
}

/// One worker's training loop: rank 0's initial state reaches every rank through the segment; each step every rank
/// computes its slice's gradient, the exchange sums them in place, each rank averages, clips and steps Adam over its share
/// of the parameters and takes the others' shares, and rank 0's running statistics are broadcast, so all ranks hold the
/// same parameters after every step (Adam's moments, each rank keeping its share, are gathered for a checkpoint). Rank 0
/// alone writes.
public final class RankTrainer {
    let assignment: RankAssignment
    let rank: Int
    var settings: TrainingSettings { assignment.settings }
    var job: String { assignment.jobDirectory }
    let exchange: WorkerExchange
    let replica: Replica
    let data: TrainingData
    var progress = Progress()
    private var metricsFile: FileHandle?
    private var digestFile: FileHandle?
    private let exchangeTimeout: Double

    /// `exchange` joins this rank to the others: the job's segment on one machine, or a `HierarchicalExchange`.
    public init(_ assignment: RankAssignment, rank: Int, exchange: WorkerExchange) throws {
        self.assignment = assignment
        self.rank = rank
        exchangeTimeout = TrainingJob.exchangeTimeout
        assignment.devices[rank].activate()
        self.exchange = exchange
        do {
            _ = try assignment.settings.computePrecision()
            data = try assignment.loadData()
        } catch {
            exchange.abort(onBehalfOf: nil)
            RankFailure(message: "\(error)", blame: []).record(job: assignment.jobDirectory, rank: rank)
            throw error
        }
        replica = Replica(settings: assignment.settings, classes: data.classes.count, gradientBuffer: (exchange.homeBuffer.baseAddress!, exchange))
    }

    /// Trains to the end (or to early stopping); on failure, marks the segment so the other ranks stop at once, and
    /// leaves its reason for the job.
    public func run() throws {
        do {
            try train()
        } catch {
            exchange.abort(onBehalfOf: nil)
            var blame: [Int] = []
            if case .timeout(let ranks, _) = error as? ExchangeError { blame = ranks }
            if case .aborted(let by) = error as? ExchangeError { blame = [by] }
            RankFailure(message: "\(error)", blame: blame).record(job: job, rank: rank)
            throw error
        }
    }

    private func log(_ line: String) {
        guard rank == 0 else { return }
        let text = Data((line + "\n").utf8)
        FileHandle.standardError.write(text)
        let path = JobFiles.log(job)
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        if let handle = FileHandle(forWritingAtPath: path) {
            handle.seekToEndOfFile()
            handle.write(text)
            try? handle.close()
        }
    }

    // MARK: - Starting

    /// The starting state: a checkpoint of these settings (every rank reads the same file), or rank 0's seeded
    /// initialisation and `init` weights, broadcast to every rank.
    private func start() throws {
        if let saved = try Checkpoint.progress(at: JobFiles.checkpoint(job), settings: settings) {
            try Checkpoint.restore(replica, from: JobFiles.checkpoint(job))
            replica.adam.resume(afterSteps: saved.step)
            progress = saved
            log("resuming from the checkpoint at step \(saved.step) (epoch \(saved.epoch + 1), step \(saved.stepInEpoch) of it)")
        } else {
            if rank == 0 && !settings.initPath.isEmpty {
                var loaded = Set<String>()
                for path in settings.initFiles {
                    let (names, skipped) = try replica.load(initial: path, prefix: settings.initPrefix, only: settings.initOnlyPrefixes)
                    loaded.formUnion(names)
                    log("init: \(names.count) tensors loaded from \(path)" + (settings.initPrefix.isEmpty ? "" : " under \(settings.initPrefix)")
                        + (settings.initOnly.isEmpty ? "" : " (only \(settings.initOnly))")
                        + (skipped.isEmpty ? "" : "; not loaded (\(skipped.count)): " + skipped.joined(separator: ", ")))
                }
                log("init: \(replica.stateCount - loaded.count) of the model's \(replica.stateCount) tensors keep their seeded values")
            }
            let values = replica.flat.values.pointer
            try exchange.broadcast(UnsafeMutableBufferPointer(start: values, count: replica.flat.count), from: 0, timeout: exchangeTimeout)
            try broadcastBuffers()
        }
        try checkFrozenTrunk()
        if rank == 0 {
            // A resumed run keeps the metrics of the steps it kept and drops the rest.
            let path = JobFiles.metrics(job)
            if !FileManager.default.fileExists(atPath: path) || progress.step == 0 { _ = FileManager.default.createFile(atPath: path, contents: nil) }
            guard truncate(path, off_t(progress.metricsBytes)) == 0, let handle = FileHandle(forWritingAtPath: path) else {
                throw TrainingError("cannot write \(path): \(String(cString: strerror(errno)))")
            }
            handle.seekToEndOfFile()
            metricsFile = handle
        }
        if settings.digests {
            let path = JobFiles.digests(job, rank: rank)
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            // A resumed run keeps the digests of the steps it kept.
            let kept = ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n")
                .filter { line in line.split(separator: " ").first.flatMap { Int($0) }.map { $0 <= progress.step } ?? false }
            _ = FileManager.default.createFile(atPath: path, contents: Data(kept.map { $0 + "\n" }.joined().utf8))
            digestFile = FileHandle(forWritingAtPath: path)
            digestFile?.seekToEndOfFile()
            if progress.step == 0 { recordDigest() }
        }
    }

    /// Cached face features stand for the frames only with the whole trunk frozen at the weights they were made with.
    private func checkFrozenTrunk() throws {
        for prefix in replica.frozen where !replica.flat.names.contains(where: { $0.hasPrefix(prefix) }) {
            throw TrainingError("freeze: '\(prefix)' names no parameter of the \(settings.fusion.rawValue) model (its names start visual., audio., fusion., classifier.)")
        }
        if !replica.frozen.isEmpty {
            log("frozen: \(replica.frozenCount) parameters under \(replica.frozen.joined(separator: ", ")) keep their initial values; frozen BatchNorm layers use their loaded statistics")
        }
        guard let features = data.features, features.holdsFaceFeatures, replica.model.fusion.usesVisual else { return }
        guard replica.trunkFrozen else {
            throw TrainingError("the shards hold cached face features, which stand for the frames only with the face trunk frozen: set freeze to visual.backbone. (or train on shards of pixels)")
        }
        do { try replica.model.checkFaceFeatures(digest: features.faceFeatures?["trunk_sha256"], source: "the training shards") }
        catch { throw TrainingError("\(error)") }
        log("training on cached face features: flips use the flipped frames' features; brightness and contrast do not apply")
    }

    /// Rank 0's running statistics and counters (num_batches_tracked, as the two halves of each one's bits) to every rank.
    private func broadcastBuffers() throws {
        var buffers = replica.packedBuffers()
        for counter in replica.counters {
            let bits = UInt64(bitPattern: counter.value)
            buffers += [Float(bitPattern: UInt32(truncatingIfNeeded: bits)), Float(bitPattern: UInt32(truncatingIfNeeded: bits >> 32))]
        }
        try buffers.withUnsafeMutableBufferPointer { try exchange.broadcast($0, from: 0, timeout: exchangeTimeout) }
        for (index, counter) in replica.counters.enumerated() {
            let (low, high) = (buffers[replica.bufferCount + 2 * index].bitPattern, buffers[replica.bufferCount + 2 * index + 1].bitPattern)
            counter.value = Int64(bitPattern: UInt64(high) << 32 | UInt64(low))
        }
        replica.unpackBuffers(Array(buffers[0..<replica.bufferCount]))
    }

    private func recordDigest() {
        digestFile?.write(Data(String(format: "%d %016llx\n", progress.step, replica.digest()).utf8))
    }

    // MARK: - Training

    /// What every epoch of this run shares: its length in steps, the learning-rate schedule and the loss's class weights.
    private struct Plan {
        var stepsPerEpoch: Int
        var totalSteps: Int
        var schedule: WarmupCosine
        var classWeights: [Float]?
    }

    /// Wall time of this attempt, added to what earlier attempts of the run spent (a resumed run continues the count).
    private struct Clock {
        let started = Date()
        let secondsBefore: Double
        let stepBefore: Int
        var seconds: Double { secondsBefore + Date().timeIntervalSince(started) }
    }

    private var atStepLimit: Bool { settings.maxSteps > 0 && progress.step >= settings.maxSteps }

    /// Epochs until the last, the step limit or early stopping; then the last weights and the summary.
    private func train() throws {
        try start()
        let plan = try makePlan()
        let clock = Clock(secondsBefore: progress.seconds, stepBefore: progress.step)
        if rank == 0 && progress.step == 0 {
            log("training \(settings.fusion.rawValue): \(data.trainCount) clips, \(assignment.ranks) worker(s) x batch \(settings.batch) on \(assignment.devices[rank]) each, "
                + "\(plan.stepsPerEpoch) steps per epoch, \(settings.epochs) epoch(s)" + (replica.precision == .bf16 ? ", bf16" : ""))
        }
        replica.setTraining(true)
        var stopEarly = false
        while progress.epoch < settings.epochs && !atStepLimit {
            try runEpoch(plan, clock)
            stopEarly = try endEpoch(clock)
            if stopEarly {
                log("stopping early: no better dev weighted F1 for \(settings.patience) epoch(s)")
                break
            }
        }
        if rank == 0 {
            try replica.model.saveStateDictionary(to: JobFiles.last(job), metadata: stateMetadata(epoch: progress.epoch - 1))
            try writeSummary(wall: clock.seconds, stoppedEarly: stopEarly)
        }
    }

    private func makePlan() throws -> Plan {
        let perRank = (data.trainCount + assignment.ranks - 1) / assignment.ranks
        let stepsPerEpoch = (perRank + settings.batch - 1) / settings.batch
        let totalSteps = stepsPerEpoch * settings.epochs
        let weights: [Float]?
        do { weights = try settings.lossWeights(labels: data.classes, counts: data.classCounts) }
        catch { throw TrainingError("\(error)") }
        return Plan(stepsPerEpoch: stepsPerEpoch, totalSteps: totalSteps, schedule: WarmupCosine(warmup: settings.warmup, total: totalSteps),
                    classWeights: weights)
    }

    /// The current epoch's remaining steps (a resumed run starts where its checkpoint stopped), the next batch built
    /// while a step computes; a checkpoint every `checkpoint_every` steps.
    private func runEpoch(_ plan: Plan, _ clock: Clock) throws {
        let epoch = progress.epoch
        let order = EpochOrder.positions(count: data.trainCount, seed: UInt64(settings.seed), epoch: epoch, rank: rank, ranks: assignment.ranks, shuffle: true)
        let first = progress.stepInEpoch
        let data = self.data
        let batchSize = settings.batch
        let prefetcher = Prefetcher(batches: plan.stepsPerEpoch - first) { k in
            let step = first + k
            return try data.trainBatch(Array(order[step * batchSize..<min((step + 1) * batchSize, order.count)]), epoch: epoch)
        }
        defer { prefetcher.stop() }
        let fault = Fault(assignment.fault, rank: rank)
        for stepInEpoch in first..<plan.stepsPerEpoch {
            // At the step limit the epoch ends here: its evaluation, checkpoint and the summary follow.
            if atStepLimit { break }
            fault.fire(before: progress.step)
            let stepStarted = Date()
            let batch = try prefetcher.batch(stepInEpoch - first)
            try step(batch, plan: plan, stepInEpoch: stepInEpoch, started: stepStarted, waited: Date().timeIntervalSince(stepStarted), clock: clock)
            if settings.checkpointEvery > 0 && progress.step % settings.checkpointEvery == 0 && stepInEpoch + 1 < plan.stepsPerEpoch {
                progress.seconds = clock.seconds
                try checkpoint()
            }
        }
        if assignment.progressLine && rank == 0 { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    /// One optimiser step: this rank's gradient, the exchange (gradients summed in rank order and averaged, DDP's rule;
    /// the loss alongside; rank 0's running statistics to all), clipping, Adam; then rank 0's metrics line.
    private func step(_ batch: Batch, plan: Plan, stepInEpoch: Int, started: Date, waited: Double, clock: Clock) throws {
        let ranks = assignment.ranks
        let loss = try replica.computeGradients(batch, shape: data.shape, settings: settings, classWeights: plan.classWeights, rank: rank, step: progress.step)
        let exchangeStarted = Date()
        try exchange.reduceHome(within: replica.gradientRange, scale: 1 / Float(ranks), timeout: exchangeTimeout)
        var lossSum = [loss]
        try lossSum.withUnsafeMutableBufferPointer { try exchange.allReduce($0, timeout: exchangeTimeout) }
        try broadcastBuffers()
        let exchangeSeconds = Date().timeIntervalSince(exchangeStarted)
        let norm = replica.flat.gradientNorm(within: replica.gradientRange)
        progress.step += 1
        let factor = plan.schedule.factor(step: progress.step)
        // Clipped as Adam reads each gradient, in the same pass; each rank updates its share of the parameters (and
        // keeps that share of the moments), then takes the others' shares.
        replica.adam.step(learningRateFactor: factor, gradientScale: settings.clipNorm > 0 ? FlatParameters.clipScale(norm: norm, maxNorm: settings.clipNorm) : nil,
                          within: exchange.share(of: replica.gradientRange))
        try exchange.gatherShares(UnsafeMutableBufferPointer(start: replica.flat.values.pointer, count: replica.flat.count), within: replica.gradientRange, timeout: exchangeTimeout)
        progress.stepInEpoch = stepInEpoch + 1
        let stepSeconds = Date().timeIntervalSince(started)
        if settings.digests { recordDigest() }
        guard rank == 0 else { return }
        let (meanLoss, samplesPerSecond) = (Double(lossSum[0]) / Double(ranks), Double(batch.count * ranks) / stepSeconds)
        let lrs = Dictionary(uniqueKeysWithValues: replica.adam.groups.map { ($0.name, $0.learningRate * factor) })
        try writeMetrics(["step": progress.step, "epoch": progress.epoch + 1, "loss": meanLoss, "lr": lrs, "grad_norm": norm,
                          "samples_per_s": samplesPerSecond, "allreduce_ms": exchangeSeconds * 1000, "data_wait_ms": waited * 1000,
                          "step_ms": stepSeconds * 1000])
        if assignment.progressLine {
            let elapsed = Date().timeIntervalSince(clock.started)
            let remaining = (settings.maxSteps > 0 ? min(settings.maxSteps, plan.totalSteps) : plan.totalSteps) - progress.step
            let eta = elapsed / Double(progress.step - clock.stepBefore) * Double(remaining)
            FileHandle.standardError.write(Data(String(format: "\repoch %d/%d  step %d/%d  loss %.4f  lr %.2e  %.1f samples/s  ETA %@   ",
                                                       progress.epoch + 1, settings.epochs, stepInEpoch + 1, plan.stepsPerEpoch, meanLoss, lrs["other"] ?? 0,
                                                       samplesPerSecond, duration(eta)).utf8))
        }
    }

    /// The epoch's end: dev figures (every rank evaluates its share), the best model kept, a checkpoint; whether
    /// `patience` epochs have passed without a better dev weighted F1.
    private func endEpoch(_ clock: Clock) throws -> Bool {
        let epoch = progress.epoch
        let figures = try evaluate(epoch: epoch)
        if figures.weightedF1 > progress.best {
            progress.best = figures.weightedF1
            progress.bestEpoch = epoch
            progress.epochsWithoutImprovement = 0
            if rank == 0 { try replica.model.saveStateDictionary(to: JobFiles.best(job), metadata: stateMetadata(epoch: epoch)) }
        } else {
            progress.epochsWithoutImprovement += 1
        }
        progress.devHistory.append(figures)
        if rank == 0 {
            try writeMetrics(["epoch": epoch + 1, "step": progress.step, "dev_accuracy": figures.accuracy, "dev_weighted_f1": figures.weightedF1,
                              "dev_macro_f1": figures.macroF1])
            log(String(format: "epoch %d: dev accuracy %.4f, weighted F1 %.4f, macro F1 %.4f%@", epoch + 1, figures.accuracy, figures.weightedF1,
                       figures.macroF1, progress.bestEpoch == epoch ? " (best so far)" : ""))
        }
        progress.epoch += 1
        progress.stepInEpoch = 0
        progress.seconds = clock.seconds
        try checkpoint()
        return settings.patience > 0 && progress.epochsWithoutImprovement >= settings.patience
    }

    /// Every rank takes part: the moments are gathered from the ranks' shares before rank 0 writes them.
    private func checkpoint() throws {
        for moments in [replica.adam.exponentialAverage, replica.adam.exponentialAverageSquares] {
            try exchange.gatherShares(UnsafeMutableBufferPointer(start: moments.pointer, count: moments.count), within: replica.gradientRange, timeout: exchangeTimeout)
        }
        guard rank == 0 else { return }
        try metricsFile?.synchronize()
        progress.metricsBytes = Int(try metricsFile?.offset() ?? 0)
        try Checkpoint.write(replica, progress: progress, settings: settings, to: JobFiles.checkpoint(job))
    }

    private func writeMetrics(_ line: [String: Any]) throws {
        var data = try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys])
        data.append(0x0A)
        metricsFile?.write(data)
    }

    private func stateMetadata(epoch: Int) -> [String: String] {
        ["fusion": settings.fusion.rawValue, "epoch": String(epoch + 1), "classes": data.classes.joined]
    }

    /// Dev figures of the current parameters in evaluation mode: rank r takes records r, r + N, ...; the confusion
    /// counts are summed through the exchange, so every rank sees the same figures.
    private func evaluate(epoch: Int) throws -> DevFigures {
        let classes = data.classes.count
        var confusion = [Float](repeating: 0, count: classes * classes)
        let mine = Array(stride(from: rank, to: data.devCount, by: assignment.ranks))
        replica.setTraining(false)
        defer { replica.setTraining(true) }
        for start in stride(from: 0, to: mine.count, by: settings.batch) {
            let batch = try data.devBatch(Array(mine[start..<min(start + settings.batch, mine.count)]))
            let b = batch.count
            let logits = try withoutGrad { try replica.forward(batch, shape: data.shape, melFrames: settings.melFrames) }
            for i in 0..<b {
                var best = 0
                for c in 1..<classes where logits.pointer[i * classes + c] > logits.pointer[i * classes + best] { best = c }
                confusion[Int(batch.labels[i]) * classes + best] += 1
            }
        }
        try confusion.withUnsafeMutableBufferPointer { try exchange.allReduce($0, timeout: exchangeTimeout) }
        let counts = (0..<classes).map { row in (0..<classes).map { Int(confusion[row * classes + $0]) } }
        let metrics = ClassificationMetrics(confusion: counts)
        return DevFigures(epoch: epoch + 1, metrics)
    }

    private func writeSummary(wall: Double, stoppedEarly: Bool) throws {
        let best = progress.devHistory.first { $0.epoch == progress.bestEpoch + 1 }
        let samples = Double(progress.step * settings.batch * assignment.ranks)
        let summary = TrainingSummary(
            bestEpoch: progress.bestEpoch + 1, best: best, epochs: progress.devHistory, steps: progress.step, stoppedEarly: stoppedEarly,
            wallSeconds: wall, samplesPerSecond: wall > 0 ? samples / wall : 0, workers: assignment.ranks,
            threadsPerWorker: settings.threadsPerWorker(), devices: assignment.devices.map(\.description), trainClips: data.trainCount,
            devClips: data.devCount, parameters: replica.flat.count, settings: settings, classes: data.classes,
            features: data.features)
        try summary.write(to: JobFiles.summary(job))
    }
}

/// A fault a test asks a rank to suffer (`RANK:STEP:kill|stall|parent`), so worker death and stalls are tested with
/// real processes at a chosen step.
struct Fault {
    var step = -1
    var action = ""

    init(_ text: String?, rank: Int) {
        let parts = text?.split(separator: ":").map(String.init) ?? []
        guard parts.count == 3, Int(parts[0]) == rank, let step = Int(parts[1]) else { return }
        self.step = step
        action = parts[2]
    }

    func fire(before step: Int) {
        guard step == self.step else { return }
        switch action {
        case "kill": kill(getpid(), SIGKILL)
        case "parent": kill(getppid(), SIGKILL)
        case "stall": while true { sleep(60) }
        default: break
        }
    }
}

func duration(_ seconds: Double) -> String {
    let s = Int(seconds.rounded())
    return s >= 3600 ? String(format: "%dh%02dm", s / 3600, s % 3600 / 60) : String(format: "%dm%02ds", s / 60, s % 60)
}
