import Dataset
import EmotionModel
import Evaluation
import Foundation
import ModelContract
import NN
import Pipeline
import Safetensors
import Tensor

/// `evaluate`: a trained model in evaluation mode on the test split (and dev). Deps: a `train` stage, `shard_index`
/// and `shards`. Outputs: `metrics.json` (the fusion and which weights; per split: accuracy, weighted and macro F1 with 95 % bootstrap intervals,
/// per-class precision/recall/F1/support, the confusion matrix raw and normalised, the majority-class baseline),
/// `predictions.jsonl` (per clip: split, id, truth, prediction, a probability per class, face found) and `report.html`.
public enum EvaluateStage {
    public static let kind = StageKind.whole(
        "evaluate", version: 6, summary: "a trained model on the test and dev splits: metrics.json, predictions.jsonl, report.html",
        params: EvaluationSettings.params
    ) { context in
        let settings = try EvaluationSettings(context.params, stage: context.stage)
        let precision = try resolvedPrecision(settings.precision, stage: context.stage)
        let files = context.inputLocations
        func required(_ path: String, _ what: String) throws -> String {
            guard let location = files[path] else { throw PipelineError(.stageFailed, "stage '\(context.stage)': no \(path) among its deps (\(what))") }
            return location
        }
        let trained: TrainedModelFolder
        do { trained = try TrainedModelFolder(summary: try required("train.json", "list a train stage"), weights: try required(settings.model.fileName, "list a train stage")) }
        catch let error as ContractError { throw PipelineError(.corrupt, "stage '\(context.stage)': \(error)") }
        let fusion = trained.fusion, classes = trained.classes, melFrames = trained.melFrames
        let model = EmotionModel(fusion: fusion, classes: classes.count, dropout: 0)
        try model.loadStateDictionary(try SafetensorsFile(path: trained.weights))
        let trainIndex = try ShardIndex.read(try required("train/index.json", "list a shard_index stage"))
        guard trainIndex.classes == classes else {
            throw PipelineError(.stageFailed, "stage '\(context.stage)': the model predicts \(classes), the shards are labelled \(trainIndex.classes)")
        }
        let majority = classes.majority(trainIndex.labels)
        var figures: [SplitFigures] = [], lines = Data()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        for split in settings.splits {
            let data = try ShardedSplit(index: try required("\(split)/index.json", "list a shard_index stage")) { files[$0] ?? $0 }
            let predictions: [Prediction]
            do { predictions = try ModelEvaluation.predict(model, split: data, name: split, melFrames: melFrames, batch: settings.batch, threads: settings.threads,
                                                                            precision: precision) }
            catch let error as ContractError { throw PipelineError(.stageFailed, "stage '\(context.stage)': \(error)") }
            for prediction in predictions {
                lines.append(try encoder.encode(prediction))
                lines.append(0x0A)
            }
            figures.append(try SplitFigures(split: split, predictions: predictions, classes: classes, majority: majority,
                                            bootstrapSamples: settings.bootstrapSamples, seed: UInt64(settings.seed)))
        }
        try context.write(lines, to: "predictions.jsonl")
        try context.writeJSON(EvaluationMetrics(fusion: fusion, weights: settings.model, classes: classes,
                                                splits: Dictionary(uniqueKeysWithValues: figures.map { ($0.split, $0) }), precision: precision),
                              to: "metrics.json")
        var report = HTMLReport(title: "Evaluation: \(fusion.rawValue) fusion", classes: classes, splits: figures)
        if case .training(let summary) = trained.description {
            report.about = ["Model: \(settings.model.fileName) of the training (best dev epoch \(summary.bestEpoch)), "
                            + "\(summary.settings.workers) worker(s) x batch \(summary.settings.batch)."]
        }
        if let metrics = files["metrics.jsonl"] { report.readCurves(metrics: try Data(contentsOf: URL(fileURLWithPath: metrics))) }
        try context.write(Data(report.html().utf8), to: "report.html")
    }.using(.product(of: ["threads"]))
}
