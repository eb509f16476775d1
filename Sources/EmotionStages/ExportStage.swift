import Dataset
import Evaluation
import Export
import EmotionModel
import Foundation
import ModelContract
import Pipeline

/// `export`: a trained model in the forms users deploy: `model.safetensors` (PyTorch names), `model.onnx` (opset 17),
/// `model_int8.onnx` (with its activation scales, `model_int8.json`), `emotion_model.py` and `model_info.json`. Deps:
/// train stages, and optionally their evaluate stages (then the model with the best dev weighted F1 is exported),
/// `shard_index` and `shards` (the dev split calibrates the int8 model, the test split scores the float and int8 models).
public enum ExportStage {
    public static let kind = StageKind.whole(
        "export", version: 3, summary: "the best trained model as safetensors, ONNX (float and int8), emotion_model.py and model_info.json",
        params: ExportSettings.params
    ) { context in
        let settings = try ExportSettings(context.params, stage: context.stage), weights = settings.weights
        // A training and its evaluation are matched by fusion and run (the seed a matrix put in both stages' names).
        var trained: [String: TrainedModelFolder] = [:]
        var devF1: [(model: String, value: Double)] = []
        do {
            for input in context.inputs {
                let files = input.locations, run = ResultsTable.run(ofStage: input.name)
                if let summary = files[TrainingSummary.fileName], let model = files[weights.fileName] {
                    let folder = try TrainedModelFolder(summary: summary, weights: model)
                    let key = folder.fusion.rawValue + "#" + run
                    guard trained[key] == nil else {
                        throw PipelineError(.stageFailed, "stage '\(context.stage)': two train stages of fusion \(folder.fusion.rawValue)\(run.isEmpty ? "" : " and run \(run)") among its deps: list the one to export")
                    }
                    trained[key] = folder
                }
                if let metrics = files["metrics.json"] {
                    let evaluation = try JSONDecoder().decode(EvaluationMetrics.self, from: Data(contentsOf: URL(fileURLWithPath: metrics)))
                    if let dev = evaluation.splits["dev"] { devF1.append((evaluation.fusion.rawValue + "#" + run, dev.weightedF1)) }
                }
            }
        } catch let error as ContractError {
            throw PipelineError(.corrupt, "stage '\(context.stage)': \(error)")
        }
        let chosen: TrainedModelFolder
        if let best = devF1.compactMap({ entry in trained[entry.model].map { (folder: $0, value: entry.value) } }).max(by: { $0.value < $1.value }) {
            chosen = best.folder
        } else if trained.count == 1 {
            chosen = trained.values.first!
        } else {
            throw PipelineError(.stageFailed, "stage '\(context.stage)': \(trained.count) train stages among its deps and no evaluate stage's dev figures to choose by")
        }
        let files = context.inputLocations
        let test = try files["test/index.json"].map { try ShardedSplit(index: $0) { files[$0] ?? $0 } }
        let calibration = try files["dev/index.json"].flatMap { index in
            settings.calibrationClips == 0 ? nil
                : ModelExport.Calibration(split: try ShardedSplit(index: index) { files[$0] ?? $0 }, clips: settings.calibrationClips, method: settings.calibration)
        }
        do {
            try ModelExport.export(chosen, test: test, calibration: calibration, to: context.outputDirectory)
        } catch let error as ExportError {
            throw PipelineError(.stageFailed, "stage '\(context.stage)': \(error)")
        }
    }
}

/// The export stage's settings.
public struct ExportSettings: StageSettings {
    /// Which of the chosen training's weights.
    public var weights = ModelWeights.best
    /// Dev clips the int8 model's activation ranges are measured on (0: int8 weights only).
    public var calibrationClips = 200
    /// minmax by measurement: on the demo's cross_attention models of both recipes it kept more test predictions and
    /// moved the probabilities less than the 99.99th percentile did (docs/INFERENCE.md).
    public var calibration = CalibrationMethod.minmax

    public init() {}

    public static let fields: [SettingsField<ExportSettings>] = [
        .choice("weights", \.weights, help: "the best dev epoch's weights, or the last"),
        .int("calibration_clips", \.calibrationClips, help: "dev clips the int8 model's activation ranges are measured on (0: int8 weights only, float activations)"),
        .choice("calibration", \.calibration, help: "the activation ranges: each tensor's extremes, or the 99.99th percentile of each sign's magnitudes"),
    ]

    public var problem: String? { calibrationClips < 0 ? "calibration_clips must be 0 or more, not \(calibrationClips)" : nil }
}
