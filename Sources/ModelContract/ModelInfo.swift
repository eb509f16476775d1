import Crypto
import Dataset
import EmotionModel
import Foundation
import Labels
import Metrics

/// The fixed sizes an exported graph is built for; only the batch is dynamic.
public struct ExportShapes: Sendable, Codable, Equatable {
    /// Face frames per clip (Tv) and the chip's side.
    public var frames: Int
    public var size: Int
    /// Log-mel bands and frames per clip (Ta).
    public var melBands: Int
    public var melFrames: Int

    public init(frames: Int, size: Int, melBands: Int = 64, melFrames: Int) {
        self.frames = frames
        self.size = size
        self.melBands = melBands
        self.melFrames = melFrames
    }

    enum CodingKeys: String, CodingKey {
        case frames, size
        case melBands = "mel_bands", melFrames = "mel_frames"
    }
}

/// `model_info.json`: everything a user needs to feed the exported model the inputs it was trained on, the classes it
/// predicts, what it scored, how it was trained, and the digest of every file beside it.
public struct ModelInfo: Codable, Sendable {
    public static let fileName = "model_info.json"

    public struct Figures: Codable, Sendable {
        public var clips: Int
        public var accuracy: Double
        public var weightedF1: Double
        public var macroF1: Double

        /// The figures of `metrics`, computed over `clips` clips.
        public init(clips: Int, _ metrics: ClassificationMetrics) {
            self.clips = clips
            (accuracy, weightedF1, macroF1) = (metrics.accuracy, metrics.weightedF1, metrics.macroF1)
        }

        enum CodingKeys: String, CodingKey {
            case clips, accuracy
            case weightedF1 = "weighted_f1", macroF1 = "macro_f1"
        }
    }

    public struct Exported: Codable, Sendable {
        public var bytes: Int
        public var sha256: String

        /// The size and SHA-256 of the file at `path`, read in pieces.
        public init(file path: String) throws {
            guard let handle = FileHandle(forReadingAtPath: path) else { throw ContractError("\(path): cannot be read") }
            defer { try? handle.close() }
            var hasher = SHA256(), bytes = 0
            while let chunk = try handle.read(upToCount: 1 << 22), !chunk.isEmpty {
                hasher.update(data: chunk)
                bytes += chunk.count
            }
            self.bytes = bytes
            sha256 = hasher.finalize().map { String(format: "%02x", $0) }.joined()
        }
    }

    /// What `model_int8.onnx` is and what it costs in accuracy.
    public struct Int8Model: Codable, Sendable {
        /// `static`: the face trunk on integer kernels with calibrated activations (the rest int8 weights, float
        /// activations); `weights`: int8 weights only, every activation float (no face trunk, or no split to calibrate on).
        public var form: String
        public var description: String
        /// Where the activation scales came from; the scales themselves are in `model_int8.json`.
        public var calibration: String?
        public var calibrationMethod: CalibrationMethod?
        /// int8 minus float weighted F1 on the test split, and its 95 % paired bootstrap interval.
        public var weightedF1Difference: Double?
        public var weightedF1Interval: [Double]?
        /// The share of test clips where int8 predicts the float model's class, and the mean absolute difference of
        /// their class probabilities: the quantisation error as a user of the outputs meets it.
        public var agreement: Double?
        public var meanProbabilityDifference: Double?

        public init(form: String, description: String, calibration: String?, calibrationMethod: CalibrationMethod?,
                    weightedF1Difference: Double?, weightedF1Interval: [Double]?, agreement: Double?, meanProbabilityDifference: Double?) {
            (self.form, self.description, self.calibration, self.calibrationMethod) = (form, description, calibration, calibrationMethod)
            (self.weightedF1Difference, self.weightedF1Interval) = (weightedF1Difference, weightedF1Interval)
            (self.agreement, self.meanProbabilityDifference) = (agreement, meanProbabilityDifference)
        }

        enum CodingKeys: String, CodingKey {
            case form, description, calibration, calibrationMethod = "calibration_method"
            case weightedF1Difference = "weighted_f1_difference", weightedF1Interval = "weighted_f1_interval"
            case agreement, meanProbabilityDifference = "mean_probability_difference"
        }
    }

    public var formatVersion = 1
    public var project: String
    public var projectVersion: String
    public var fusion: Fusion
    public var classes: LabelSet
    /// Input name to shape; "batch" is dynamic.
    public var inputs: [String: [String]]
    public var outputs: [String: [String]]
    public var shapes: ExportShapes
    /// The shard index's features: frames, chip size, mel bands and the mel stage's params.
    public var features: ShardIndex.Features
    /// How frames are normalised before the model: per RGB channel, (value / 255 - mean) / std.
    public var normalization: [String: [Float]]
    public var melLayout: String
    public var test: Figures?
    public var testInt8: Figures?
    public var int8: Int8Model?
    public var training: TrainingSettings
    public var trainingSummary: [String: Double]
    public var files: [String: Exported]

    public init(project: String, projectVersion: String, fusion: Fusion, classes: LabelSet, inputs: [String: [String]],
                outputs: [String: [String]], shapes: ExportShapes, features: ShardIndex.Features, normalization: [String: [Float]],
                melLayout: String, test: Figures?, testInt8: Figures?, int8: Int8Model? = nil, training: TrainingSettings,
                trainingSummary: [String: Double], files: [String: Exported]) {
        self.project = project
        self.projectVersion = projectVersion
        self.fusion = fusion
        self.classes = classes
        self.inputs = inputs
        self.outputs = outputs
        self.shapes = shapes
        self.features = features
        self.normalization = normalization
        self.melLayout = melLayout
        self.test = test
        self.testInt8 = testInt8
        self.int8 = int8
        self.training = training
        self.trainingSummary = trainingSummary
        self.files = files
    }

    enum CodingKeys: String, CodingKey {
        case formatVersion = "format_version", project, projectVersion = "project_version", fusion, classes, inputs, outputs, shapes, features
        case normalization, melLayout = "mel_layout", test, testInt8 = "test_int8", int8, training, trainingSummary = "training_summary", files
    }

    public static func read(_ path: String) throws -> ModelInfo { try ContractFile.read(path) }

    /// Written whole to a temporary name and renamed into place.
    public func write(to path: String) throws { try ContractFile.write(self, to: path) }
}
