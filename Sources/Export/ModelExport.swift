import Dataset
import EmotionModel
import Evaluation
import Foundation
import Labels
import Metrics
import ModelContract
import NN
import Safetensors

/// Writes a trained model's export: `model.safetensors`, `model.onnx`, `model_int8.onnx` (with `model_int8.json`, its
/// activation scales, when calibrated), `emotion_model.py` and `model_info.json`, all in one folder.
public enum ModelExport {
    public static let projectVersion = "0.15"

    /// Clips the int8 model's activation ranges are measured on.
    public struct Calibration {
        public var split: ShardedSplit
        public var clips: Int
        public var method: CalibrationMethod

        public init(split: ShardedSplit, clips: Int, method: CalibrationMethod) {
            (self.split, self.clips, self.method) = (split, clips, method)
        }
    }

    /// `trained`: a train stage's output (`best.safetensors` or `last`, and its `train.json`). With `calibration` (clips
    /// of frames; the dev split in a pipeline) and a model that sees faces, `model_int8.onnx` runs its face trunk in
    /// int8 on those activation scales, else it holds int8 weights only. With `test`, the float and int8 models are
    /// scored on that split by the engine (the int8 one as `model_int8.onnx` computes it), with their paired difference.
    @discardableResult
    public static func export(_ trained: TrainedModelFolder, test: ShardedSplit?, calibration: Calibration? = nil, to folder: String) throws -> ModelInfo {
        guard case .training(let summary) = trained.description else { throw ExportError("\(trained.folder) is an export already, not a training's output") }
        guard let features = summary.features else {
            throw ExportError("\(trained.describedBy) names no features (a training on data no pipeline made): train on shards to export")
        }
        let fusion = trained.fusion, classes = trained.classes
        for (role, split) in [("test", test), ("calibration", calibration?.split)] {
            guard let split else { continue }
            if split.index.classes != classes { throw ExportError("the \(role) split is labelled \(split.index.classes), the model predicts \(classes)") }
            if split.index.features.holdsFaceFeatures {
                throw ExportError("the \(role) split holds cached face features: the exported model reads frames, so give it shards of pixels (deps: the shards and shard_index of faces, not of face_features)")
            }
        }
        let model = EmotionModel(fusion: fusion, classes: classes.count, dropout: 0)
        try model.loadStateDictionary(try SafetensorsFile(path: trained.weights))
        model.eval()
        let shapes = ExportShapes(frames: features.frames, size: features.size, melBands: features.melBands, melFrames: trained.melFrames)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)

        try model.saveStateDictionary(to: folder + "/model.safetensors", metadata: ["fusion": fusion.rawValue, "classes": classes.joined])
        let state = StateDictionary(model)
        try ONNXExport.model(state, fusion: fusion, classes: classes, shapes: shapes, version: projectVersion).write(to: URL(fileURLWithPath: folder + "/model.onnx"))
        var trunkCalibration: TrunkCalibration?
        if let calibration, let visual = model.visual {
            let found = try ModelEvaluation.calibrate(model, split: calibration.split, name: calibration.split.index.split, clips: calibration.clips,
                                                      method: calibration.method)
            try found.encoded().write(to: URL(fileURLWithPath: folder + "/" + TrunkCalibration.fileName), options: .atomic)
            trunkCalibration = found
            try ONNXExport.model(state, fusion: fusion, classes: classes, shapes: shapes, quantization: .calibrated(FoldedTrunk(visual.backbone), found),
                                 version: projectVersion).write(to: URL(fileURLWithPath: folder + "/model_int8.onnx"))
        } else {
            try ONNXExport.model(state, fusion: fusion, classes: classes, shapes: shapes, quantization: .weights, version: projectVersion)
                .write(to: URL(fileURLWithPath: folder + "/model_int8.onnx"))
        }
        guard let script = Bundle.module.url(forResource: "emotion_model", withExtension: "py") else { throw ExportError("emotion_model.py is missing from the program's resources") }
        try Data(contentsOf: script).write(to: URL(fileURLWithPath: folder + "/emotion_model.py"))

        var testFigures: ModelInfo.Figures?, int8Figures: ModelInfo.Figures?
        var difference: (value: Double, interval: [Double], agreement: Double, probability: Double)?
        if let test {
            let float = try ModelEvaluation.predict(model, split: test, name: test.index.split, melFrames: shapes.melFrames, batch: 16)
            model.quantize(trunk: trunkCalibration)
            let int8 = try ModelEvaluation.predict(model, split: test, name: test.index.split, melFrames: shapes.melFrames, batch: 16)
            let truth = try classes.indices(of: float.map(\.truth))
            let first = try classes.indices(of: int8.map(\.predicted)), second = try classes.indices(of: float.map(\.predicted))
            let floatMetrics = ClassificationMetrics(truth: truth, predicted: second, classes: classes.count)
            let int8Metrics = ClassificationMetrics(truth: truth, predicted: first, classes: classes.count)
            testFigures = ModelInfo.Figures(clips: float.count, floatMetrics)
            int8Figures = ModelInfo.Figures(clips: int8.count, int8Metrics)
            let interval = BootstrapInterval(truth: truth, first: first, second: second, classes: classes.count, seed: 0) { $0.weightedF1 }
            let agreement = Double(zip(first, second).filter { $0 == $1 }.count) / Double(max(1, first.count))
            let gaps = zip(float, int8).flatMap { zip($0.probabilities, $1.probabilities).map { abs($0 - $1) } }
            difference = (int8Metrics.weightedF1 - floatMetrics.weightedF1, [interval.low, interval.high], agreement,
                          gaps.reduce(0, +) / Double(max(1, gaps.count)))
        }
        let int8 = ModelInfo.Int8Model(
            form: trunkCalibration == nil ? "weights" : "static",
            description: trunkCalibration == nil
                ? "int8 weights (one symmetric scale per output channel) dequantized in the graph; every activation float"
                    + (fusion.usesVisual ? " (no calibration split was given)" : "")
                : "the face trunk in QDQ form (uint8 activations, per-tensor scales from \(TrunkCalibration.fileName); int8 weights per output channel with "
                    + "its BatchNorms folded in; int32 biases), run on integer kernels; the projection, audio encoder, fusion and classifier with int8 "
                    + "weights and float activations; attention's softmax, layer norms and the GRU's recurrence in float",
            calibration: trunkCalibration.map { "\($0.source): \($0.images) face images" }, calibrationMethod: trunkCalibration?.method,
            weightedF1Difference: difference?.value, weightedF1Interval: difference?.interval, agreement: difference?.agreement,
            meanProbabilityDifference: difference?.probability)
        var files: [String: ModelInfo.Exported] = [:]
        for name in ["model.safetensors", "model.onnx", "model_int8.onnx", "emotion_model.py"] + (trunkCalibration == nil ? [] : [TrunkCalibration.fileName]) {
            files[name] = try ModelInfo.Exported(file: folder + "/" + name)
        }
        var inputs: [String: [String]] = [:]
        if fusion.usesVisual { inputs["frames"] = ["batch", "\(shapes.frames)", "3", "\(shapes.size)", "\(shapes.size)"] }
        if fusion.usesAudio { inputs["mel"] = ["batch", "1", "\(shapes.melBands)", "\(shapes.melFrames)"] }
        let info = ModelInfo(
            project: "MultimodalEmotion", projectVersion: projectVersion, fusion: fusion, classes: classes, inputs: inputs,
            outputs: ["logits": ["batch", "\(classes.count)"]], shapes: shapes, features: features,
            normalization: ["mean": BatchSettings.mean, "std": BatchSettings.std],
            melLayout: "log-mel in dB as the mel stage writes it, cropped from the start or zero-padded at the end to mel_frames",
            test: testFigures, testInt8: int8Figures, int8: int8, training: summary.settings,
            trainingSummary: ["best_epoch": Double(summary.bestEpoch), "steps": Double(summary.steps), "best_dev_weighted_f1": summary.best?.weightedF1 ?? 0,
                              "wall_seconds": summary.wallSeconds, "train_clips": Double(summary.trainClips)],
            files: files)
        try info.write(to: folder + "/" + ModelInfo.fileName)
        return info
    }
}

public struct ExportError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
