import Evaluation
import Foundation
import Labels
import ModelContract
import Pipeline

/// `results`: every evaluated model of the pipeline in one table. Deps: the evaluate stages (a `foreach` name stands
/// for all of them), on generated data the synthesize stage, whose `synthesis/truth.csv` gives the perception
/// ceilings, and optionally export stages, whose model in floats and in int8 gets a table of its own (on the test
/// split). A model evaluated in several runs (a matrix's seeds) also gets its mean and deviation over them, and each
/// fusion its comparison with each modality run by run. Outputs: `results.json`, `results.md`, `results.html`.
public enum ResultsStage {
    public static let kind = StageKind.whole(
        "results", version: 5, summary: "the evaluated models in one table with the majority baseline, ceilings on generated data, fusion against each modality",
        params: ResultsSettings.params
    ) { context in
        let settings = try ResultsSettings(context.params, stage: context.stage)
        var evaluated: [ResultsTable.Evaluated] = []
        var classes: LabelSet?
        var truth: String?
        var deployments: [ResultsTable.Deployment] = []
        let decoder = JSONDecoder()
        for input in context.inputs {
            let files = input.locations
            if let location = files["synthesis/truth.csv"] { truth = location }
            if let location = files[ModelInfo.fileName], settings.split == "test" {
                let info: ModelInfo
                do { info = try ModelInfo.read(location) } catch { throw PipelineError(.corrupt, "stage '\(context.stage)': \(input.name)/\(ModelInfo.fileName): \(error)") }
                if let float = info.test, let int8 = info.testInt8, let form = info.int8, let difference = form.weightedF1Difference,
                   let interval = form.weightedF1Interval, interval.count == 2, let agreement = form.agreement {
                    deployments.append(ResultsTable.Deployment(model: info.fusion.rawValue, stage: input.name, form: form.form, clips: float.clips,
                                                               weightedF1: float.weightedF1, int8WeightedF1: int8.weightedF1, difference: difference,
                                                               interval: SplitFigures.Interval(low: interval[0], high: interval[1]), agreement: agreement))
                }
            }
            guard let metricsFile = files["metrics.json"] else { continue }
            guard let predictionsFile = files["predictions.jsonl"] else {
                throw PipelineError(.stageFailed, "stage '\(context.stage)': '\(input.name)' has metrics.json but no predictions.jsonl")
            }
            let metrics: EvaluationMetrics
            do {
                metrics = try decoder.decode(EvaluationMetrics.self, from: Data(contentsOf: URL(fileURLWithPath: metricsFile)))
            } catch {
                throw PipelineError(.corrupt, "stage '\(context.stage)': \(input.name)/metrics.json is not an evaluation's metrics: \(error)")
            }
            guard let figures = metrics.splits[settings.split] else {
                throw PipelineError(.stageFailed, "stage '\(context.stage)': '\(input.name)' did not evaluate the \(settings.split) split (it has \(metrics.splits.keys.sorted().joined(separator: ", ")))")
            }
            guard classes == nil || classes == metrics.classes else {
                throw PipelineError(.stageFailed, "stage '\(context.stage)': '\(input.name)' predicts \(metrics.classes), another evaluation \(classes!)")
            }
            classes = metrics.classes
            var predictions: [Prediction] = []
            for (number, line) in try Data(contentsOf: URL(fileURLWithPath: predictionsFile)).split(separator: 0x0A).enumerated() {
                do {
                    let prediction = try decoder.decode(Prediction.self, from: Data(line))
                    if prediction.split == settings.split { predictions.append(prediction) }
                } catch {
                    throw PipelineError(.corrupt, "stage '\(context.stage)': \(input.name)/predictions.jsonl:\(number + 1): \(error)")
                }
            }
            evaluated.append(ResultsTable.Evaluated(model: metrics.fusion.rawValue, stage: input.name, figures: figures, predictions: predictions))
        }
        guard let classes, !evaluated.isEmpty else {
            throw PipelineError(.stageFailed, "stage '\(context.stage)': none of its deps is an evaluate stage (no metrics.json)")
        }
        var ceiling: [PerceptionCeiling] = []
        if let truth {
            do {
                ceiling = try PerceptionCeiling.figures(truthCSV: try String(contentsOfFile: truth, encoding: .utf8), split: settings.split, classes: classes,
                                                     file: "synthesis/truth.csv")
            } catch let error as CeilingError {
                throw PipelineError(.corrupt, "stage '\(context.stage)': \(error)")
            }
        }
        var table = try ResultsTable(split: settings.split, classes: classes, evaluated: evaluated, ceiling: ceiling, deployments: deployments,
                                     bootstrapSamples: settings.bootstrapSamples, seed: UInt64(settings.seed))
        if !settings.notRun.isEmpty { table.notRun = settings.notRun }
        try context.writeJSON(table, to: "results.json")
        try context.write(Data(table.markdown().utf8), to: "results.md")
        try context.write(Data(table.html().utf8), to: "results.html")
    }
}
