import Dataset
import EmotionModel
import Foundation
import Labels
import Metrics
import ModelContract
import OneDNN
import Tensor

/// One clip's prediction: the class probabilities in the model's class order.
public struct Prediction: Codable, Sendable {
    public var split: String
    public var clip: String
    public var truth: String
    public var predicted: String
    public var probabilities: [Double]
    public var faceFound: Bool

    public init(split: String, clip: String, truth: String, predicted: String, probabilities: [Double], faceFound: Bool) {
        (self.split, self.clip, self.truth, self.predicted, self.probabilities, self.faceFound) = (split, clip, truth, predicted, probabilities, faceFound)
    }

    enum CodingKeys: String, CodingKey {
        case split, clip, truth, predicted, probabilities, faceFound = "face_found"
    }
}

/// A split's figures as an evaluation reports them: the model's, 95 % bootstrap intervals for accuracy and weighted
/// F1, and the majority-class baseline (the training split's most frequent class predicted for every clip).
public struct SplitFigures: Codable, Sendable {
    public struct Interval: Codable, Sendable {
        public var low: Double
        public var high: Double

        public init(low: Double, high: Double) { (self.low, self.high) = (low, high) }
    }

    public struct Baseline: Codable, Sendable {
        public var predicts: String
        public var accuracy: Double
        public var weightedF1: Double
        public var macroF1: Double

        enum CodingKeys: String, CodingKey {
            case predicts, accuracy, weightedF1 = "weighted_f1", macroF1 = "macro_f1"
        }
    }

    public var split: String
    public var clips: Int
    public var accuracy: Double
    public var weightedF1: Double
    public var macroF1: Double
    public var accuracyInterval: Interval
    public var weightedF1Interval: Interval
    /// By class name: precision, recall, F1, support.
    public var perClass: [String: ClassificationMetrics.PerClass]
    /// `confusion[truth][predicted]` in class order, and each row divided by its support.
    public var confusion: [[Int]]
    public var normalizedConfusion: [[Double]]
    public var baseline: Baseline

    enum CodingKeys: String, CodingKey {
        case split, clips, accuracy, confusion, baseline
        case weightedF1 = "weighted_f1", macroF1 = "macro_f1", accuracyInterval = "accuracy_interval"
        case weightedF1Interval = "weighted_f1_interval", perClass = "per_class", normalizedConfusion = "normalized_confusion"
    }

    /// The figures of `predictions` (all of one split, named by `classes`); `majority` is the baseline's class index.
    public init(split: String, predictions: [Prediction], classes: LabelSet, majority: Int, bootstrapSamples: Int, seed: UInt64) throws {
        let truth = try classes.indices(of: predictions.map(\.truth)), predicted = try classes.indices(of: predictions.map(\.predicted))
        let metrics = ClassificationMetrics(truth: truth, predicted: predicted, classes: classes.count)
        self.split = split
        clips = predictions.count
        accuracy = metrics.accuracy
        weightedF1 = metrics.weightedF1
        macroF1 = metrics.macroF1
        let accuracy = BootstrapInterval(truth: truth, predicted: predicted, classes: classes.count, samples: bootstrapSamples, seed: seed) { $0.accuracy }
        let weighted = BootstrapInterval(truth: truth, predicted: predicted, classes: classes.count, samples: bootstrapSamples, seed: seed) { $0.weightedF1 }
        accuracyInterval = Interval(low: accuracy.low, high: accuracy.high)
        weightedF1Interval = Interval(low: weighted.low, high: weighted.high)
        perClass = Dictionary(uniqueKeysWithValues: zip(classes, metrics.perClass))
        confusion = metrics.confusion
        normalizedConfusion = metrics.normalizedConfusion
        let always = ClassificationMetrics(truth: truth, predicted: truth.map { _ in majority }, classes: classes.count)
        baseline = Baseline(predicts: classes[majority], accuracy: always.accuracy, weightedF1: always.weightedF1, macroF1: always.macroF1)
    }
}

/// A trained model run in evaluation mode over a split of the sharded cache, in batches.
public enum ModelEvaluation {
    /// Every clip's prediction, named by the split's classes (which must be the model's), in index order, computed with `threads` engine threads whatever the machine has: some
    /// of oneDNN's matrix products split their sums by thread count, so a fixed count keeps the probabilities the
    /// same bytes on one core or many. `precision`: of the convolutions' and matrix products' operands.
    public static func predict(_ model: EmotionModel, split: ShardedSplit, name: String, melFrames: Int, batch: Int,
                               threads: Int = EvaluationSettings().threads, precision: Precision = .fp32) throws -> [Prediction] {
        let before = DNNL.threads
        DNNL.threads = threads
        defer { DNNL.threads = before }
        var settings = BatchSettings()
        settings.training = false
        settings.melFrames = melFrames
        let assembler = try BatchAssembler(split: split, settings: settings)
        let features = split.index.features, classes = split.index.classes
        guard classes.count == model.classes else {
            throw ContractError("split '\(name)' is labelled with \(classes.count) classes (\(classes)), the model predicts \(model.classes)")
        }
        if features.holdsFaceFeatures { try model.checkFaceFeatures(digest: features.faceFeatures?["trunk_sha256"], source: "split '\(name)'") }
        model.eval()
        model.prepareForInference()
        var predictions: [Prediction] = []
        for start in stride(from: 0, to: split.count, by: batch) {
            let positions = Array(start..<min(start + batch, split.count))
            let clips = try assembler.batch(positions, epoch: 0)
            let b = clips.count
            let probabilities = try withoutGrad {
                softmax(try withPrecision(precision) {
                    try model.logits(count: b, frames: clips.frames, faceFeatures: clips.faceFeatures, tv: features.frames, size: features.size, mel: clips.mel,
                                     bands: features.melBands, melFrames: melFrames)
                })
            }
            for i in 0..<b {
                let row = (0..<classes.count).map { Double(probabilities.pointer[i * classes.count + $0]) }
                let best = row.indices.max { row[$0] < row[$1] }!
                predictions.append(Prediction(split: name, clip: clips.ids[i], truth: classes[Int(clips.labels[i])], predicted: classes[best],
                                              probabilities: row, faceFound: clips.faceFound[i]))
            }
        }
        return predictions
    }

    /// The face trunk's int8 activation scales, from the float trunk run on the first `clips` clips of `split` in index
    /// order (so the same clips give the same bytes), with `threads` engine threads.
    public static func calibrate(_ model: EmotionModel, split: ShardedSplit, name: String, clips: Int, method: CalibrationMethod, batch: Int = 8,
                                 threads: Int = EvaluationSettings().threads) throws -> TrunkCalibration {
        let features = split.index.features
        guard !features.holdsFaceFeatures else { throw ContractError("split '\(name)' holds face features, not the frames a calibration runs the trunk on") }
        let before = DNNL.threads
        DNNL.threads = threads
        defer { DNNL.threads = before }
        var settings = BatchSettings()
        settings.training = false
        let assembler = try BatchAssembler(split: split, settings: settings)
        model.eval()
        let observer = ActivationObserver(method: method)
        let count = min(clips, split.count)
        for start in stride(from: 0, to: count, by: batch) {
            let positions = Array(start..<min(start + batch, count))
            let batch = try assembler.batch(positions, epoch: 0)
            try withoutGrad {
                model.observeTrunk(frames: Tensor(batch.frames, shape: [batch.count, features.frames, 3, features.size, features.size]), observer)
            }
        }
        return observer.calibration(source: "the first \(count) clips of split '\(name)' in index order", clips: count)
    }
}

/// The evaluate stage's settings.
public struct EvaluationSettings: Sendable, Equatable {
    /// Which of the training's weights.
    public var model = ModelWeights.best
    public var splits = ["test", "dev"]
    public var batch = 16
    public var bootstrapSamples = 1000
    public var seed = 0
    /// Engine threads for the forward passes, the same on every machine so that the outputs are (see `predict`).
    public var threads = 2
    public var precision = PrecisionSetting.fp32

    public init() {}

    public var problem: String? {
        if splits.isEmpty { return "splits must name at least one split" }
        if batch < 1 { return "batch must be at least 1" }
        if bootstrapSamples < 1 { return "bootstrap must be at least 1" }
        if threads < 1 { return "threads must be at least 1" }
        return nil
    }
}

/// `metrics.json` of an evaluation: which model (its fusion and which weights), and each split's figures under the
/// split's name, so that `metrics["test"]["weighted_f1"]` reads as users expect.
public struct EvaluationMetrics: Codable, Sendable {
    public var fusion: Fusion
    public var weights: ModelWeights
    /// The classes the figures name, in class order.
    public var classes: LabelSet
    public var splits: [String: SplitFigures]
    /// What the forward passes computed in (`auto` resolved); absent in files written before there was a choice (fp32).
    public var precision: String?

    public init(fusion: Fusion, weights: ModelWeights, classes: LabelSet, splits: [String: SplitFigures], precision: Precision = .fp32) {
        self.fusion = fusion
        self.weights = weights
        self.classes = classes
        self.splits = splits
        self.precision = precision.rawValue
    }

    private static let fields = ["fusion", "weights", "classes", "precision"]

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        fusion = try container.decode(Fusion.self, forKey: Key(stringValue: "fusion"))
        weights = try container.decode(ModelWeights.self, forKey: Key(stringValue: "weights"))
        classes = try container.decode(LabelSet.self, forKey: Key(stringValue: "classes"))
        precision = try container.decodeIfPresent(String.self, forKey: Key(stringValue: "precision"))
        splits = [:]
        for key in container.allKeys where !Self.fields.contains(key.stringValue) {
            splits[key.stringValue] = try container.decode(SplitFigures.self, forKey: key)
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(fusion, forKey: Key(stringValue: "fusion"))
        try container.encode(weights, forKey: Key(stringValue: "weights"))
        try container.encode(classes, forKey: Key(stringValue: "classes"))
        try container.encodeIfPresent(precision, forKey: Key(stringValue: "precision"))
        for (split, figures) in splits { try container.encode(figures, forKey: Key(stringValue: split)) }
    }
}

/// The results stage's settings.
public struct ResultsSettings: Sendable, Equatable {
    /// The split the table reports.
    public var split = "test"
    public var bootstrapSamples = 1000
    public var seed = 0
    /// Models the pipeline does not run on this data, each with why (`visual: the recordings have no faces`): the table
    /// says so rather than leave a reader to wonder.
    public var notRun: [String] = []

    public init() {}

    public var problem: String? {
        if split.isEmpty { return "split must name a split" }
        if bootstrapSamples < 1 { return "bootstrap must be at least 1" }
        return nil
    }
}
