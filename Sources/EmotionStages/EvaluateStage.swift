import Dataset
import EmotionModel
import Evaluation
import Foundation
import NN
import Pipeline
import Safetensors

/// `evaluate`: a trained model in evaluation mode on the test split (and dev). Deps: a `train` stage, `shard_index`
/// and `shards`. Outputs: `metrics.json` (the fusion and which weights; per split: accuracy, weighted and macro F1 with 95 % bootstrap intervals,
/// per-class precision/recall/F1/support, the confusion matrix raw and normalised, the majority-class baseline),
/// `predictions.jsonl` (per clip: split, id, truth, prediction, the 7 probabilities, face found) and `report.html`.
public enum EvaluateStage {
    public static let kind = StageKind.whole(
        "evaluate", version: 3, summary: "a trained model on the test and dev splits: metrics.json, predictions.jsonl, report.html",
        params: EvaluationSettings.params
    ) { context in
        let settings = try EvaluationSettings(context.params, stage: context.stage)
        let files = context.inputLocations
        func required(_ path: String, _ what: String) throws -> String {
            guard let location = files[path] else { throw PipelineError(.stageFailed, "stage '\(context.stage)': no \(path) among its deps (\(what))") }
            return location
        }
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: try required("train.json", "list a train stage")))) as? [String: Any]
        guard let trained = summary?["settings"] as? [String: Any], let fusionName = trained["fusion"] as? String, let fusion = Fusion(rawValue: fusionName),
              let melFrames = trained["mel_frames"] as? Int else {
            throw PipelineError(.corrupt, "stage '\(context.stage)': train.json lacks the training settings (fusion, mel_frames)")
        }
        let model = EmotionModel(fusion: fusion, dropout: 0)
        try model.loadStateDictionary(try SafetensorsFile(path: try required("\(settings.model).safetensors", "list a train stage")))
        let trainIndex = try ShardIndex.read(try required("train/index.json", "list a shard_index stage"))
        let majority = emotionClasses.indices.max { (trainIndex.labels[emotionClasses[$0]] ?? 0) < (trainIndex.labels[emotionClasses[$1]] ?? 0) }!
        var figures: [SplitFigures] = [], lines = Data()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        for split in settings.splits {
            let data = try ShardedSplit(index: try required("\(split)/index.json", "list a shard_index stage")) { files[$0] ?? $0 }
            let predictions = try ModelEvaluation.predict(model, split: data, name: split, melFrames: melFrames, batch: settings.batch,
                                                          threads: settings.threads)
            for prediction in predictions {
                lines.append(try encoder.encode(prediction))
                lines.append(0x0A)
            }
            figures.append(SplitFigures(split: split, predictions: predictions, majority: majority, bootstrapSamples: settings.bootstrapSamples,
                                        seed: UInt64(settings.seed)))
        }
        try context.write(lines, to: "predictions.jsonl")
        try context.writeJSON(EvaluationMetrics(fusion: fusion.rawValue, weights: settings.model, splits: Dictionary(uniqueKeysWithValues: figures.map { ($0.split, $0) })),
                              to: "metrics.json")
        var report = HTMLReport(title: "Evaluation: \(fusion.rawValue) fusion", splits: figures)
        report.about = ["Model: \(settings.model).safetensors of the training (best dev epoch \(summary?["best_epoch"] as? Int ?? 0)), "
                        + "\(trained["workers"] as? Int ?? 0) worker(s) x batch \(trained["batch"] as? Int ?? 0)."]
        if let metrics = files["metrics.jsonl"] { report.readCurves(metrics: try Data(contentsOf: URL(fileURLWithPath: metrics))) }
        try context.write(Data(report.html().utf8), to: "report.html")
    }
}
