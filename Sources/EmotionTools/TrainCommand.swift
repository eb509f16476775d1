import ArgumentParser
import EmotionStages
import Foundation
import ModelContract
import Pipeline
import Training

/// `emotion train`: the train stage's code outside a pipeline, on a shards folder and its index, writing into a folder
/// that also holds the checkpoint (the same command again resumes).
struct TrainCommand: ParsableCommand, StageOptions {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train the model on a sharded cache with worker processes exchanging gradients through shared memory, as the train stage does.",
        discussion: "The same command again resumes from the checkpoint in --out when the options are the same.")
    static let kind = TrainStage.kind
    typealias Settings = TrainingSettings
    private static let defaults = TrainingSettings()
    private static let launchDefaults = TrainingLaunch()

    @Option(help: "The shards stage's folder (its N/SPLIT.safetensors files).")
    var shards: String

    @Option(help: "The shard_index stage's folder (train/index.json, dev/index.json); default: shard_index beside --shards.")
    var index: String?

    @Option(help: "The folder to write best.safetensors, last.safetensors, metrics.jsonl, train.json and the checkpoint to.")
    var out: String

    @Option(help: help("fusion")) var fusion = defaults.fusion
    @Option(help: help("epochs")) var epochs = defaults.epochs
    @Option(help: help("batch")) var batch = defaults.batch
    @Option(help: help("workers")) var workers = defaults.workers
    @Option(help: help("threads")) var threads = defaults.threads
    @Option(help: help("lr_visual")) var lrVisual = defaults.learningRateVisual
    @Option(help: help("lr_audio")) var lrAudio = defaults.learningRateAudio
    @Option(help: help("lr_other")) var lrOther = defaults.learningRateOther
    @Option(help: help("weight_decay")) var weightDecay = defaults.weightDecay
    @Option(help: help("warmup")) var warmup = defaults.warmup
    @Option(help: help("label_smoothing")) var labelSmoothing = defaults.labelSmoothing
    @Option(help: help("class_weights")) var classWeights = defaults.classWeights
    @Option(help: help("dropout")) var dropout = defaults.dropout
    @Option(help: help("clip_norm")) var clipNorm = defaults.clipNorm
    @Option(help: help("seed")) var seed = defaults.seed
    @Option(help: help("checkpoint_every")) var checkpointEvery = defaults.checkpointEvery
    @Option(help: help("patience")) var patience = defaults.patience
    @Option(help: help("init")) var `init` = defaults.initPath
    @Option(help: help("init_prefix")) var initPrefix = defaults.initPrefix
    @Option(help: help("init_only")) var initOnly = defaults.initOnly
    @Option(help: help("freeze")) var freeze = defaults.freeze
    @Option(help: help("mel_frames")) var melFrames = defaults.melFrames
    @Option(help: help("flip")) var flip = defaults.flip
    @Option(help: help("brightness")) var brightness = defaults.brightness
    @Option(help: help("contrast")) var contrast = defaults.contrast
    @Option(help: help("time_mask")) var timeMask = defaults.timeMask
    @Option(help: help("freq_mask")) var freqMask = defaults.frequencyMask
    @Option(help: help("max_steps")) var maxSteps = defaults.maxSteps
    @Flag(inversion: .prefixedNo, help: help("digests")) var digests = defaults.digests
    @Option(help: help("precision")) var precision = defaults.precision ?? .fp32
    @Option(help: help("launcher")) var launcher = launchDefaults.launcher
    @Option(help: help("nodes")) var nodes = launchDefaults.nodes
    @Option(help: help("mpi_command")) var mpiCommand = launchDefaults.command

    var paramValues: [String: ParamValue] {
        ["fusion": .string(fusion.rawValue), "epochs": .int(epochs), "batch": .int(batch), "workers": .int(workers), "threads": .int(threads),
         "lr_visual": .double(lrVisual), "lr_audio": .double(lrAudio), "lr_other": .double(lrOther), "weight_decay": .double(weightDecay),
         "warmup": .int(warmup), "label_smoothing": .double(labelSmoothing), "class_weights": Self.param(classWeights), "dropout": .double(dropout),
         "clip_norm": .double(clipNorm), "seed": .int(seed), "checkpoint_every": .int(checkpointEvery), "patience": .int(patience),
         "init": .string(`init`), "init_prefix": .string(initPrefix), "init_only": .string(initOnly), "freeze": .string(freeze), "mel_frames": .int(melFrames), "flip": .double(flip),
         "brightness": .double(brightness), "contrast": .double(contrast), "time_mask": .int(timeMask), "freq_mask": .int(freqMask),
         "max_steps": .int(maxSteps), "digests": .bool(digests), "precision": .string(precision.rawValue),
         "launcher": .string(launcher.rawValue), "nodes": .int(nodes), "mpi_command": .string(mpiCommand)]
    }

    /// The class_weights param as a pipeline file writes it.
    private static func param(_ weights: ClassWeights) -> ParamValue {
        guard case .given(let values) = weights else { return .string(weights.description) }
        return .list(values.map(ParamValue.double))
    }

    func validate() throws {
        _ = try settings()
        _ = try launch()
    }

    private func launch() throws -> TrainingLaunch {
        try asUsageError { try TrainingLaunch(try stageParams(), stage: Self.kind.name) }
    }

    func run() throws {
        let settings = try settings()
        let indexFolder = index ?? ((shards as NSString).deletingLastPathComponent as NSString).appendingPathComponent("shard_index")
        let root = shards
        var job = TrainingJob(settings: settings, data: .shards(trainIndex: indexFolder + "/train/index.json", devIndex: indexFolder + "/dev/index.json",
                                                                locations: try Self.shardFiles(root)),
                              jobDirectory: out, worker: (WorkerProgram.path, ["train-rank"]))
        job.progressLine = isatty(2) != 0
        job.launch = try launch()
        do {
            try job.run()
        } catch let error as TrainingError {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
        print("wrote \(out)/best.safetensors, last.safetensors, metrics.jsonl, train.json")
    }

    /// Every `.safetensors` file under the shards folder, by its path relative to it (as the index names them).
    static func shardFiles(_ root: String) throws -> [String: String] {
        guard let walker = FileManager.default.enumerator(atPath: root) else { throw ValidationError("--shards \(root): not a folder") }
        var files: [String: String] = [:]
        for case let path as String in walker where path.hasSuffix(".safetensors") { files[path] = root + "/" + path }
        return files
    }
}

/// `emotion-worker train-rank`: one training worker, started by a training job; not for people to call.
struct TrainRankCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "train-rank", abstract: "One training worker (started by a training job).",
                                                    shouldDisplay: false)

    @Option(help: "The job's assignment file.") var assignment: String
    @Option(help: "This worker's rank (on one machine).") var rank: Int?
    @Flag(help: "An MPI launcher started this worker: its rank and machine come from MPI.") var mpi = false

    func validate() throws {
        guard mpi != (rank != nil) else { throw ValidationError("give either --rank or --mpi") }
    }

    func run() throws {
        do {
            if let rank {
                try TrainingWorker.run(assignment: assignment, rank: rank)
            } else {
                try TrainingWorker.runUnderMPI(assignment: assignment)
            }
        } catch {
            let who = rank.map { "training worker \($0)" } ?? "training worker (mpi) on " + ProcessInfo.processInfo.hostName
            FileHandle.standardError.write(Data("\(who): \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
