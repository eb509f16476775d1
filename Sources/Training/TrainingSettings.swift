import Foundation

/// Everything a training run follows, as the `train` stage's params declare it (MODEL.md's training rule for the
/// defaults). The same struct reaches every worker process, so all of them train by one definition.
public struct TrainingSettings: Codable, Sendable, Equatable {
    /// One of MODEL.md's five fusions.
    public var fusion = "cross_attention"
    public var epochs = 10
    /// Clips per worker per step: N workers step on N x batch clips.
    public var batch = 8
    public var workers = 3
    /// Engine threads per worker; 0 shares the machine's cores among the workers (at least one each).
    public var threads = 0
    public var learningRateVisual = 1e-4
    public var learningRateAudio = 5e-4
    public var learningRateOther = 1e-3
    public var weightDecay = 1e-4
    /// Optimiser steps of linear warm-up before the cosine.
    public var warmup = 100
    public var labelSmoothing = 0.1
    /// `none`, `balanced` (n / (classes x count), from the training split's counts), or seven numbers in class order.
    public var classWeights = "none"
    public var dropout = 0.3
    /// Global gradient-norm bound (clip_grad_norm_); 0 for none.
    public var clipNorm = 1.0
    public var seed = 0
    /// A checkpoint every this many optimiser steps, besides each epoch's end; 0 for epoch ends only.
    public var checkpointEvery = 50
    /// Stop after this many epochs without a better dev weighted F1; 0 never stops early.
    public var patience = 0
    /// Safetensors state dictionaries to start from, comma-separated, loaded in order (matched by name after
    /// `initPrefix`); empty for the seeded initialisation.
    public var initPath = ""
    public var initPrefix = ""
    /// Comma-separated prefixes of the model's names that the init files may set (empty: all): `visual.,audio.` starts a
    /// fusion's encoders from single-modality models and leaves its fusion and classifier seeded.
    public var initOnly = ""

    /// Comma-separated prefixes of parameter names kept as `init` left them (e.g. `visual.backbone.`): no gradient, no
    /// update, and their BatchNorm layers in evaluation mode with their loaded statistics, as torchvision users expect.
    public var freeze = ""

    public var freezePrefixes: [String] { freeze.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
    public var initFiles: [String] { initPath.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
    public var initOnlyPrefixes: [String] { initOnly.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
    /// Mel frames per clip (Ta).
    public var melFrames = 300
    public var flip = 0.5
    public var brightness = 0.1
    public var contrast = 0.1
    public var timeMask = 0
    public var frequencyMask = 0
    /// Stop after this many optimiser steps in all (the schedule still spans every epoch); 0 for no limit.
    public var maxSteps = 0
    /// Each worker writes the digest of its parameters after every step (`digests/rank-R.txt`): proof that replicas agree.
    public var digests = false

    public init() {}

    /// The param names, so `train.json` and checkpoints name settings as pipeline files do.
    enum CodingKeys: String, CodingKey {
        case fusion, epochs, batch, workers, threads, warmup, dropout, seed, patience, flip, brightness, contrast, digests
        case learningRateVisual = "lr_visual", learningRateAudio = "lr_audio", learningRateOther = "lr_other", weightDecay = "weight_decay"
        case labelSmoothing = "label_smoothing", classWeights = "class_weights", clipNorm = "clip_norm", checkpointEvery = "checkpoint_every"
        case initPath = "init", initPrefix = "init_prefix", initOnly = "init_only", melFrames = "mel_frames", timeMask = "time_mask", frequencyMask = "freq_mask"
        case maxSteps = "max_steps", freeze
    }

    /// The engine threads each worker gets on a machine with `cores` cores.
    public func threadsPerWorker(cores: Int = ProcessInfo.processInfo.activeProcessorCount) -> Int {
        threads > 0 ? threads : max(1, cores / max(workers, 1))
    }

    /// What makes these settings unusable, in words.
    public var problem: String? {
        if !["cross_attention", "transformer", "concat", "visual", "audio"].contains(fusion) {
            return "fusion must be one of cross_attention, transformer, concat, visual, audio, not '\(fusion)'"
        }
        if epochs < 1 { return "epochs must be at least 1" }
        if batch < 1 { return "batch must be at least 1" }
        if workers < 1 || workers > 64 { return "workers must be between 1 and 64" }
        if threads < 0 { return "threads must be 0 (automatic) or more" }
        if melFrames < 8 { return "mel_frames must be at least 8 (the voice encoder pools by 8), not \(melFrames)" }
        if !(0..<1).contains(dropout) { return "dropout must be at least 0 and below 1" }
        if !(0..<1).contains(labelSmoothing) { return "label_smoothing must be at least 0 and below 1" }
        if warmup < 0 || checkpointEvery < 0 || patience < 0 || maxSteps < 0 { return "warmup, checkpoint_every, patience and max_steps cannot be negative" }
        if [learningRateVisual, learningRateAudio, learningRateOther].contains(where: { !($0 >= 0) }) { return "learning rates cannot be negative" }
        if case .failure(let error) = Result(catching: { try parsedClassWeights(counts: nil) }) { return "\(error)" }
        return nil
    }

    /// The per-class loss weights these settings ask for; `counts` are the training split's clips per class (for `balanced`).
    public func parsedClassWeights(counts: [Int]?) throws -> [Float]? {
        switch classWeights {
        case "none", "": return nil
        case "balanced":
            guard let counts else { return nil }
            let total = counts.reduce(0, +)
            // sklearn's "balanced": n / (classes x count); a class without clips keeps weight 1.
            return counts.map { $0 > 0 ? Float(Double(total) / Double(counts.count * $0)) : 1 }
        default:
            let values = classWeights.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
            guard values.count == 7, values.allSatisfy({ $0 != nil && $0! >= 0 }) else {
                throw TrainingError("class_weights must be none, balanced, or seven non-negative numbers separated by commas, not '\(classWeights)'")
            }
            return values.map { $0! }
        }
    }
}

/// Why training stopped or could not start, in words naming the file, rank or setting concerned.
public struct TrainingError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// How a training job starts its workers: child processes on this machine (`local`), or MPI ranks on `nodes` machines
/// started by an MPI launcher (`mpi`). Not part of what is trained: `workers` ranks give the same model either way, to
/// float summation order, so these settings stay out of the stage's key and out of checkpoints (a run may resume under
/// the other launcher).
public struct TrainingLaunch: Sendable, Equatable {
    public var launcher = "local"
    /// Machines under `mpi`: `workers / nodes` workers on each.
    public var nodes = 1
    /// The MPI launcher and its own options (`mpirun --hostfile hosts`, `srun --partition cpu`): the job adds the process
    /// count, the placement per machine and the worker program.
    public var command = "mpirun"

    public init() {}

    public var problem: String? {
        if !["local", "mpi"].contains(launcher) { return "launcher must be local or mpi, not '\(launcher)'" }
        if nodes < 1 { return "nodes must be at least 1" }
        if launcher == "local" && nodes != 1 { return "nodes > 1 needs launcher: mpi" }
        if launcher == "mpi" && command.split(separator: " ").isEmpty { return "mpi_command cannot be empty under launcher: mpi" }
        return nil
    }
}
