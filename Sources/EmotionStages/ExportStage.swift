import Dataset
import Evaluation
import Export
import Foundation
import Pipeline

/// `export`: a trained model in the forms users deploy: `model.safetensors` (PyTorch names), `model.onnx` (opset 17),
/// `model_int8.onnx`, `emotion_model.py` and `model_info.json`. Deps: train stages, and optionally their evaluate stages
/// (then the model with the best dev weighted F1 is exported), `shard_index` and `shards` (the test split scores the
/// float and int8 models).
public enum ExportStage {
    public static let kind = StageKind.whole(
        "export", version: 2, summary: "the best trained model as safetensors, ONNX (float and int8), emotion_model.py and model_info.json",
        params: [ParamSpec("weights", .choice(["best", "last"]), default: .string("best"), help: "the best dev epoch's weights, or the last")]
    ) { context in
        var trained: [String: (weights: String, summary: Data)] = [:]
        var devF1: [(fusion: String, value: Double)] = []
        let weights = context.params.string("weights") + ".safetensors"
        for input in context.inputs {
            let files = input.locations
            if let summary = files["train.json"], let model = files[weights] {
                let data = try Data(contentsOf: URL(fileURLWithPath: summary))
                let settings = (try JSONSerialization.jsonObject(with: data) as? [String: Any])?["settings"] as? [String: Any]
                guard let fusion = settings?["fusion"] as? String else { throw PipelineError(.corrupt, "stage '\(context.stage)': \(input.name)/train.json names no fusion") }
                guard trained[fusion] == nil else {
                    throw PipelineError(.stageFailed, "stage '\(context.stage)': two train stages of fusion \(fusion) among its deps: list the one to export")
                }
                trained[fusion] = (model, data)
            }
            if let metrics = files["metrics.json"] {
                let evaluation = try JSONDecoder().decode(EvaluationMetrics.self, from: Data(contentsOf: URL(fileURLWithPath: metrics)))
                if let dev = evaluation.splits["dev"] { devF1.append((evaluation.fusion, dev.weightedF1)) }
            }
        }
        let chosen: String
        if let best = devF1.filter({ trained[$0.fusion] != nil }).max(by: { $0.value < $1.value }) {
            chosen = best.fusion
        } else if trained.count == 1 {
            chosen = trained.keys.first!
        } else {
            throw PipelineError(.stageFailed, "stage '\(context.stage)': \(trained.count) train stages among its deps and no evaluate stage's dev figures to choose by")
        }
        let files = context.inputLocations
        let test = try files["test/index.json"].map { try ShardedSplit(index: $0) { files[$0] ?? $0 } }
        do {
            try ModelExport.export(weights: trained[chosen]!.weights, summary: trained[chosen]!.summary, test: test, to: context.outputDirectory)
        } catch let error as ExportError {
            throw PipelineError(.stageFailed, "stage '\(context.stage)': \(error)")
        }
    }
}
