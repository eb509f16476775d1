import Crypto
import Dataset
import EmotionModel
import Evaluation
import Foundation
import Metrics
import NN
import Safetensors
import Training

/// `model_info.json`: everything a user needs to feed the exported model the inputs it was trained on, what it
/// scored, how it was trained, and the digest of every file beside it.
public struct ModelInfo: Codable, Sendable {
    public struct Figures: Codable, Sendable {
        public var clips: Int
        public var accuracy: Double
        public var weightedF1: Double
        public var macroF1: Double

        enum CodingKeys: String, CodingKey {
            case clips, accuracy
            case weightedF1 = "weighted_f1", macroF1 = "macro_f1"
        }
    }

    public struct Exported: Codable, Sendable {
        public var bytes: Int
        public var sha256: String
    }

    public var formatVersion = 1
    public var project: String
    public var projectVersion: String
    public var fusion: String
    public var classes: [String]
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
    public var training: TrainingSettings
    public var trainingSummary: [String: Double]
    public var files: [String: Exported]

    enum CodingKeys: String, CodingKey {
        case formatVersion = "format_version", project, projectVersion = "project_version", fusion, classes, inputs, outputs, shapes, features
        case normalization, melLayout = "mel_layout", test, testInt8 = "test_int8", training, trainingSummary = "training_summary", files
    }
}

/// Writes a trained model's export: `model.safetensors`, `model.onnx`, `model_int8.onnx`, `emotion_model.py` and
/// `model_info.json`, all in one folder.
public enum ModelExport {
    public static let projectVersion = "0.14"

    /// `weights`: a train stage's `best.safetensors` (or `last`); `summary`: its `train.json`. With `test`, the float and
    /// int8 models are scored on that split by the engine (the int8 one with the weights the int8 file holds).
    @discardableResult
    public static func export(weights: String, summary: Data, test: ShardedSplit?, to folder: String) throws -> ModelInfo {
        let trained: TrainingSummary
        do {
            trained = try JSONDecoder().decode(TrainingSummary.self, from: summary)
        } catch {
            throw ExportError("train.json: not a training summary (\(error))")
        }
        guard let fusion = Fusion(rawValue: trained.settings.fusion) else { throw ExportError("train.json: unknown fusion '\(trained.settings.fusion)'") }
        guard let features = trained.features else {
            throw ExportError("train.json names no features (trained before the train stage recorded them): train again to export")
        }
        if let test, test.index.features.holdsFaceFeatures {
            throw ExportError("the test split holds cached face features: the exported model reads frames, so score it on shards of pixels (deps: the shards and shard_index of faces, not of face_features)")
        }
        let model = EmotionModel(fusion: fusion, dropout: 0)
        try model.loadStateDictionary(try SafetensorsFile(path: weights))
        model.eval()
        let shapes = ExportShapes(frames: features.frames, size: features.size, melBands: features.melBands, melFrames: trained.settings.melFrames)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)

        try model.saveStateDictionary(to: folder + "/model.safetensors", metadata: ["fusion": fusion.rawValue, "classes": emotionClasses.joined(separator: ",")])
        let state = StateDictionary(model)
        try ONNXExport.model(state, fusion: fusion, shapes: shapes, version: projectVersion).write(to: URL(fileURLWithPath: folder + "/model.onnx"))
        try ONNXExport.model(state, fusion: fusion, shapes: shapes, quantized: true, version: projectVersion)
            .write(to: URL(fileURLWithPath: folder + "/model_int8.onnx"))
        guard let script = Bundle.module.url(forResource: "emotion_model", withExtension: "py") else { throw ExportError("emotion_model.py is missing from the program's resources") }
        try Data(contentsOf: script).write(to: URL(fileURLWithPath: folder + "/emotion_model.py"))

        var testFigures: ModelInfo.Figures?, int8Figures: ModelInfo.Figures?
        if let test {
            testFigures = try score(model, test, melFrames: shapes.melFrames)
            quantizeInPlace(model)
            int8Figures = try score(model, test, melFrames: shapes.melFrames)
        }
        var files: [String: ModelInfo.Exported] = [:]
        for name in ["model.safetensors", "model.onnx", "model_int8.onnx", "emotion_model.py"] {
            let data = try Data(contentsOf: URL(fileURLWithPath: folder + "/" + name))
            files[name] = ModelInfo.Exported(bytes: data.count, sha256: SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined())
        }
        var inputs: [String: [String]] = [:]
        if fusion.usesVisual { inputs["frames"] = ["batch", "\(shapes.frames)", "3", "\(shapes.size)", "\(shapes.size)"] }
        if fusion.usesAudio { inputs["mel"] = ["batch", "1", "\(shapes.melBands)", "\(shapes.melFrames)"] }
        let info = ModelInfo(
            project: "MultimodalEmotion", projectVersion: projectVersion, fusion: fusion.rawValue, classes: emotionClasses, inputs: inputs,
            outputs: ["logits": ["batch", "\(emotionClasses.count)"]], shapes: shapes, features: features,
            normalization: ["mean": BatchSettings.mean, "std": BatchSettings.std],
            melLayout: "log-mel in dB as the mel stage writes it, cropped from the start or zero-padded at the end to mel_frames",
            test: testFigures, testInt8: int8Figures, training: trained.settings,
            trainingSummary: ["best_epoch": Double(trained.bestEpoch), "steps": Double(trained.steps), "best_dev_weighted_f1": trained.best?.weightedF1 ?? 0,
                              "wall_seconds": trained.wallSeconds, "train_clips": Double(trained.trainClips)],
            files: files)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        try encoder.encode(info).write(to: URL(fileURLWithPath: folder + "/model_info.json"))
        return info
    }

    private static func score(_ model: EmotionModel, _ split: ShardedSplit, melFrames: Int) throws -> ModelInfo.Figures {
        let predictions = try ModelEvaluation.predict(model, split: split, name: split.index.split, melFrames: melFrames, batch: 16)
        let index = Dictionary(uniqueKeysWithValues: emotionClasses.enumerated().map { ($1, $0) })
        let metrics = ClassificationMetrics(truth: predictions.map { index[$0.truth]! }, predicted: predictions.map { index[$0.predicted]! },
                                            classes: emotionClasses.count)
        return ModelInfo.Figures(clips: predictions.count, accuracy: metrics.accuracy, weightedF1: metrics.weightedF1, macroF1: metrics.macroF1)
    }

    /// Replaces each weight `model_int8.onnx` quantizes with what it stands for there: convolution, linear, GRU and
    /// attention projection weights, one scale per output row.
    static func quantizeInPlace(_ model: EmotionModel) {
        for (name, tensor) in model.namedParameters() where tensor.shape.count >= 2 && name != "fusion.modality" {
            let quantized = Int8Quantization(tensor.scalars, channels: tensor.shape[0]).dequantized
            quantized.withUnsafeBufferPointer { tensor.pointer.update(from: $0.baseAddress!, count: quantized.count) }
        }
    }
}

public struct ExportError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
