import EmotionModel
import Foundation
import Labels
import Tensor

/// Everything a training run follows, as the `train` stage's params declare it (docs/MODEL.md's training recipe for
/// the defaults). The same struct reaches every worker process, so all of them train by one definition.
public struct TrainingSettings: Codable, Sendable, Equatable {
    /// One of the five fusions (docs/MODEL.md).
    public var fusion = Fusion.crossAttention
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
    public var classWeights = ClassWeights.none
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
    /// The convolutions' and matrix products' operands (`Autocast`); nil in files written before there was a choice,
    /// which trained in fp32. A job resolves `auto` on its machine before its workers start, so `train.json` says which.
    public var precision: PrecisionSetting?

    public init() {}

    /// The param names, so `train.json` and checkpoints name settings as pipeline files do.
    enum CodingKeys: String, CodingKey {
        case fusion, epochs, batch, workers, threads, warmup, dropout, seed, patience, flip, brightness, contrast, digests
        case learningRateVisual = "lr_visual", learningRateAudio = "lr_audio", learningRateOther = "lr_other", weightDecay = "weight_decay"
        case labelSmoothing = "label_smoothing", classWeights = "class_weights", clipNorm = "clip_norm", checkpointEvery = "checkpoint_every"
        case initPath = "init", initPrefix = "init_prefix", initOnly = "init_only", melFrames = "mel_frames", timeMask = "time_mask", frequencyMask = "freq_mask"
        case maxSteps = "max_steps", freeze, precision
    }

    /// The precision this run computes in on this machine; an error saying why where the CPU cannot.
    public func computePrecision() throws -> Precision { try (precision ?? .fp32).resolved() }

    /// The engine threads each worker gets on a machine with `cores` cores.
    public func threadsPerWorker(cores: Int = ProcessInfo.processInfo.activeProcessorCount) -> Int {
        threads > 0 ? threads : max(1, cores / max(workers, 1))
    }

    /// What makes these settings unusable, in words.
    public var problem: String? {
        if epochs < 1 { return "epochs must be at least 1" }
        if batch < 1 { return "batch must be at least 1" }
        if workers < 1 || workers > 64 { return "workers must be between 1 and 64" }
        if threads < 0 { return "threads must be 0 (automatic) or more" }
        if melFrames < 8 { return "mel_frames must be at least 8 (the voice encoder pools by 8), not \(melFrames)" }
        if !(0..<1).contains(dropout) { return "dropout must be at least 0 and below 1" }
        if !(0..<1).contains(labelSmoothing) { return "label_smoothing must be at least 0 and below 1" }
        if warmup < 0 || checkpointEvery < 0 || patience < 0 || maxSteps < 0 { return "warmup, checkpoint_every, patience and max_steps cannot be negative" }
        if [learningRateVisual, learningRateAudio, learningRateOther].contains(where: { !($0 >= 0) }) { return "learning rates cannot be negative" }
        if case .given(let values) = classWeights, values.contains(where: { !($0 >= 0) }) { return "class_weights cannot be negative" }
        return nil
    }

    /// The per-class loss weights these settings ask for, for the classes of `labels` with `counts` training clips each.
    public func lossWeights(labels: LabelSet, counts: [Int]) throws -> [Float]? {
        switch classWeights {
        case .none: return nil
        case .balanced:
            let total = counts.reduce(0, +)
            // sklearn's "balanced": n / (classes x count); a class without clips keeps weight 1.
            return counts.map { $0 > 0 ? Float(Double(total) / Double(counts.count * $0)) : 1 }
        case .given(let values):
            guard values.count == labels.count else {
                throw ContractError("class_weights gives \(values.count) numbers for the \(labels.count) classes \(labels)")
            }
            return values.map(Float.init)
        }
    }
}

/// How the loss weighs each class: equally, by the inverse of its frequency in the training split, or as given (one
/// number per class of the label set, in class order). The param and `train.json` write it as `none`, `balanced` or
/// the numbers joined by commas.
public enum ClassWeights: Sendable, Equatable, Codable, CustomStringConvertible {
    case none, balanced
    case given([Double])

    /// The words a pipeline file may write instead of numbers.
    public static let choices = ["none", "balanced"]

    public init?(_ text: String) {
        switch text {
        case "none", "": self = .none
        case "balanced": self = .balanced
        default:
            let values = text.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
            guard !values.isEmpty, values.allSatisfy({ $0 != nil }) else { return nil }
            self = .given(values.map { $0! })
        }
    }

    public var description: String {
        switch self {
        case .none: return "none"
        case .balanced: return "balanced"
        case .given(let values): return values.map { "\($0)" }.joined(separator: ",")
        }
    }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = ClassWeights(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "class_weights must be none, balanced or numbers separated by commas, not '\(text)'"))
        }
        self = value
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
