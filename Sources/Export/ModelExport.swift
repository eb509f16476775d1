import Dataset
import EmotionModel
import Evaluation
import Foundation
import Labels
import Metrics
import ModelContract
import NN
import Safetensors

/// Writes a trained model's export: `model.safetensors`, `model.onnx`, `model_int8.onnx`, `emotion_model.py` and
/// `model_info.json`, all in one folder.
public enum ModelExport {
    public static let projectVersion = "0.14"

    /// `trained`: a train stage's output (`best.safetensors` or `last`, and its `train.json`). With `test`, the float and
    /// int8 models are scored on that split by the engine (the int8 one with the weights the int8 file holds).
    @discardableResult
    public static func export(_ trained: TrainedModelFolder, test: ShardedSplit?, to folder: String) throws -> ModelInfo {
        guard case .training(let summary) = trained.description else { throw ExportError("\(trained.folder) is an export already, not a training's output") }
        guard let features = summary.features else {
            throw ExportError("\(trained.describedBy) names no features (a training on data no pipeline made): train on shards to export")
        }
        let fusion = trained.fusion, classes = trained.classes
        if let test, test.index.classes != classes {
            throw ExportError("the test split is labelled \(test.index.classes), the model predicts \(classes)")
        }
        if let test, test.index.features.holdsFaceFeatures {
            throw ExportError("the test split holds cached face features: the exported model reads frames, so score it on shards of pixels (deps: the shards and shard_index of faces, not of face_features)")
        }
        let model = EmotionModel(fusion: fusion, classes: classes.count, dropout: 0)
        try model.loadStateDictionary(try SafetensorsFile(path: trained.weights))
        model.eval()
        let shapes = ExportShapes(frames: features.frames, size: features.size, melBands: features.melBands, melFrames: trained.melFrames)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)

        try model.saveStateDictionary(to: folder + "/model.safetensors", metadata: ["fusion": fusion.rawValue, "classes": classes.joined])
        let state = StateDictionary(model)
        try ONNXExport.model(state, fusion: fusion, classes: classes, shapes: shapes, version: projectVersion).write(to: URL(fileURLWithPath: folder + "/model.onnx"))
        try ONNXExport.model(state, fusion: fusion, classes: classes, shapes: shapes, quantized: true, version: projectVersion)
            .write(to: URL(fileURLWithPath: folder + "/model_int8.onnx"))
        guard let script = Bundle.module.url(forResource: "emotion_model", withExtension: "py") else { throw ExportError("emotion_model.py is missing from the program's resources") }
        try Data(contentsOf: script).write(to: URL(fileURLWithPath: folder + "/emotion_model.py"))

        var testFigures: ModelInfo.Figures?, int8Figures: ModelInfo.Figures?
        if let test {
            testFigures = try score(model, test, classes: classes, melFrames: shapes.melFrames)
            quantizeInPlace(model)
            int8Figures = try score(model, test, classes: classes, melFrames: shapes.melFrames)
        }
        var files: [String: ModelInfo.Exported] = [:]
        for name in ["model.safetensors", "model.onnx", "model_int8.onnx", "emotion_model.py"] { files[name] = try ModelInfo.Exported(file: folder + "/" + name) }
        var inputs: [String: [String]] = [:]
        if fusion.usesVisual { inputs["frames"] = ["batch", "\(shapes.frames)", "3", "\(shapes.size)", "\(shapes.size)"] }
        if fusion.usesAudio { inputs["mel"] = ["batch", "1", "\(shapes.melBands)", "\(shapes.melFrames)"] }
        let info = ModelInfo(
            project: "MultimodalEmotion", projectVersion: projectVersion, fusion: fusion, classes: classes, inputs: inputs,
            outputs: ["logits": ["batch", "\(classes.count)"]], shapes: shapes, features: features,
            normalization: ["mean": BatchSettings.mean, "std": BatchSettings.std],
            melLayout: "log-mel in dB as the mel stage writes it, cropped from the start or zero-padded at the end to mel_frames",
            test: testFigures, testInt8: int8Figures, training: summary.settings,
            trainingSummary: ["best_epoch": Double(summary.bestEpoch), "steps": Double(summary.steps), "best_dev_weighted_f1": summary.best?.weightedF1 ?? 0,
                              "wall_seconds": summary.wallSeconds, "train_clips": Double(summary.trainClips)],
            files: files)
        try info.write(to: folder + "/" + ModelInfo.fileName)
        return info
    }

    private static func score(_ model: EmotionModel, _ split: ShardedSplit, classes: LabelSet, melFrames: Int) throws -> ModelInfo.Figures {
        let predictions = try ModelEvaluation.predict(model, split: split, name: split.index.split, melFrames: melFrames, batch: 16)
        let metrics = ClassificationMetrics(truth: try classes.indices(of: predictions.map(\.truth)), predicted: try classes.indices(of: predictions.map(\.predicted)),
                                            classes: classes.count)
        return ModelInfo.Figures(clips: predictions.count, metrics)
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
