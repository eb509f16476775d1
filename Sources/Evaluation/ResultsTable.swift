import Foundation
import Labels
import WebPages
import Metrics

/// The results table of a pipeline: every evaluated model on one split, the majority-class baseline, on generated
/// data the perception ceilings, and whether each fusion beats each single modality on the same clips (paired
/// bootstrap of the difference). Written as `results.json`, `results.md` and `results.html`.
public struct ResultsTable: Encodable, Sendable {
    public struct Row: Encodable, Sendable {
        public var model: String
        /// The evaluate stage the row comes from.
        public var stage: String
        public var clips: Int
        public var accuracy: Double
        public var accuracyInterval: SplitFigures.Interval
        public var weightedF1: Double
        public var weightedF1Interval: SplitFigures.Interval
        public var macroF1: Double
        public var perClassF1: [String: Double]

        enum CodingKeys: String, CodingKey {
            case model, stage, clips, accuracy
            case accuracyInterval = "accuracy_interval", weightedF1 = "weighted_f1", weightedF1Interval = "weighted_f1_interval"
            case macroF1 = "macro_f1", perClassF1 = "per_class_f1"
        }
    }

    /// A fusion model against a single-modality model on the clips both predicted.
    public struct Comparison: Encodable, Sendable {
        public let model: String
        public let against: String
        public let clips: Int
        public let weightedF1Difference: Double
        public let weightedF1Interval: SplitFigures.Interval
        public let accuracyDifference: Double
        public let accuracyInterval: SplitFigures.Interval
        /// The difference in weighted F1 is above zero with 95 % confidence.
        public let better: Bool

        init(model: String, against: String, clips: Int, weightedF1Difference: Double, weightedF1Interval: SplitFigures.Interval,
             accuracyDifference: Double, accuracyInterval: SplitFigures.Interval) {
            (self.model, self.against, self.clips) = (model, against, clips)
            (self.weightedF1Difference, self.weightedF1Interval) = (weightedF1Difference, weightedF1Interval)
            (self.accuracyDifference, self.accuracyInterval) = (accuracyDifference, accuracyInterval)
            better = weightedF1Interval.low > 0
        }

        enum CodingKeys: String, CodingKey {
            case model, against, clips, better
            case weightedF1Difference = "weighted_f1_difference", weightedF1Interval = "weighted_f1_interval"
            case accuracyDifference = "accuracy_difference", accuracyInterval = "accuracy_interval"
        }
    }

    /// One model over its runs (seeds, or folds): each figure's mean and sample standard deviation across the runs, and
    /// the figures of every run's predictions pooled.
    public struct Aggregate: Encodable, Sendable {
        public var model: String
        public var runs: [String]
        public var weightedF1: Spread
        public var accuracy: Spread
        public var macroF1: Spread
        public var pooledWeightedF1: Double
        public var pooledAccuracy: Double
        public var pooledClips: Int

        enum CodingKeys: String, CodingKey {
            case model, runs, accuracy
            case weightedF1 = "weighted_f1", macroF1 = "macro_f1", pooledWeightedF1 = "pooled_weighted_f1", pooledAccuracy = "pooled_accuracy", pooledClips = "pooled_clips"
        }
    }

    /// A mean and sample standard deviation (0 for one value).
    public struct Spread: Encodable, Sendable, Equatable {
        public var mean: Double
        public var deviation: Double

        public init(_ values: [Double]) {
            let mean = values.reduce(0, +) / Double(max(1, values.count))
            self.mean = mean
            deviation = values.count > 1 ? (values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count - 1)).squareRoot() : 0
        }
    }

    /// A fusion against a single modality over runs paired by their run (the same seed or fold): the per-run differences
    /// in weighted F1, their spread, and in how many runs the fusion scored higher.
    public struct RunComparison: Encodable, Sendable {
        public var model: String
        public var against: String
        public var runs: Int
        public var weightedF1Difference: Spread
        public var higherIn: Int

        enum CodingKeys: String, CodingKey {
            case model, against, runs
            case weightedF1Difference = "weighted_f1_difference", higherIn = "higher_in"
        }
    }

    /// The model an export stage chose, scored on the same split in floats and in int8 (`model_info.json`).
    public struct Deployment: Encodable, Sendable {
        public var model: String
        public var stage: String
        /// `static` (the face trunk on integer kernels) or `weights` (int8 weights only).
        public var form: String
        public var clips: Int
        public var weightedF1: Double
        public var int8WeightedF1: Double
        public var difference: Double
        public var interval: SplitFigures.Interval
        /// The share of clips where the int8 model predicts the float model's class.
        public var agreement: Double

        public init(model: String, stage: String, form: String, clips: Int, weightedF1: Double, int8WeightedF1: Double, difference: Double,
                    interval: SplitFigures.Interval, agreement: Double) {
            (self.model, self.stage, self.form, self.clips) = (model, stage, form, clips)
            (self.weightedF1, self.int8WeightedF1, self.difference, self.interval, self.agreement) = (weightedF1, int8WeightedF1, difference, interval, agreement)
        }

        enum CodingKeys: String, CodingKey {
            case model, stage, form, clips, agreement, difference, interval
            case weightedF1 = "weighted_f1", int8WeightedF1 = "int8_weighted_f1"
        }
    }

    /// One evaluated model as the table reads it.
    public struct Evaluated: Sendable {
        public var model: String
        public var stage: String
        public var figures: SplitFigures
        public var predictions: [Prediction]

        public init(model: String, stage: String, figures: SplitFigures, predictions: [Prediction]) {
            self.model = model
            self.stage = stage
            self.figures = figures
            self.predictions = predictions
        }
    }

    public var split: String
    /// The classes of every evaluation in the table.
    public var classes: LabelSet
    public var models: [Row]
    public var baseline: SplitFigures.Baseline?
    public var ceiling: [PerceptionCeiling]
    public var comparisons: [Comparison]
    public var deployments: [Deployment]
    /// Models evaluated in several runs (seeds, folds): their spread and pooled figures; nil when every model ran once.
    public var aggregates: [Aggregate]?
    public var runComparisons: [RunComparison]?
    /// Models the pipeline did not run on this data, each with why (the results stage's `not_run`).
    public var notRun: [String]?

    enum CodingKeys: String, CodingKey {
        case split, classes, models, baseline, ceiling, comparisons, deployments, aggregates
        case runComparisons = "run_comparisons", notRun = "not_run"
    }

    /// The run an evaluate stage stands for: what a `matrix` put after its model's name (`evaluate@visual-1` is run `1`,
    /// `evaluate@visual-3-1` fold 3's run `3-1`); empty for a stage of its own.
    public static func run(ofStage stage: String) -> String {
        guard let at = stage.lastIndex(of: "@"), let dash = stage[at...].firstIndex(of: "-") else { return "" }
        return String(stage[stage.index(after: dash)...])
    }

    /// Single-modality models, the ones each fusion is compared against.
    public static let singleModalities = ["visual", "audio"]

    public init(split: String, classes: LabelSet, evaluated: [Evaluated], ceiling: [PerceptionCeiling], deployments: [Deployment] = [],
                bootstrapSamples: Int, seed: UInt64) throws {
        self.deployments = deployments
        self.split = split
        self.classes = classes
        self.ceiling = ceiling
        models = evaluated.map { entry in
            let figures = entry.figures
            return Row(model: entry.model, stage: entry.stage, clips: figures.clips, accuracy: figures.accuracy, accuracyInterval: figures.accuracyInterval,
                       weightedF1: figures.weightedF1, weightedF1Interval: figures.weightedF1Interval, macroF1: figures.macroF1,
                       perClassF1: figures.perClass.mapValues(\.f1))
        }
        baseline = evaluated.first?.figures.baseline
        var byModel: [(model: String, runs: [Evaluated])] = []
        for entry in evaluated {
            if let index = byModel.firstIndex(where: { $0.model == entry.model }) { byModel[index].runs.append(entry) } else { byModel.append((entry.model, [entry])) }
        }
        let several = Set(byModel.filter { $0.runs.count > 1 }.map(\.model))
        models = models.map { row in
            var row = row
            if several.contains(row.model) { row.model += " (run \(Self.run(ofStage: row.stage)))" }
            return row
        }
        /// Runs of two models are paired by run when both ran several times; a model that ran once pairs with every run.
        func paired(_ first: Evaluated, _ second: Evaluated) -> Bool {
            !several.contains(first.model) || !several.contains(second.model) || Self.run(ofStage: first.stage) == Self.run(ofStage: second.stage)
        }
        let rows = models
        func label(_ entry: Evaluated) -> String { rows.first { $0.stage == entry.stage }!.model }
        var comparisons: [Comparison] = []
        for entry in evaluated where !Self.singleModalities.contains(entry.model) {
            for single in evaluated where Self.singleModalities.contains(single.model) && paired(entry, single) {
                let theirs = Dictionary(single.predictions.map { ($0.clip, $0) }, uniquingKeysWith: { first, _ in first })
                let paired = entry.predictions.compactMap { mine in theirs[mine.clip].map { (mine, $0) } }
                let truth = try classes.indices(of: paired.map(\.0.truth)), first = try classes.indices(of: paired.map(\.0.predicted))
                let second = try classes.indices(of: paired.map(\.1.predicted))
                func difference(_ figure: @escaping (ClassificationMetrics) -> Double) -> (Double, SplitFigures.Interval) {
                    let count = classes.count
                    let value = figure(ClassificationMetrics(truth: truth, predicted: first, classes: count))
                        - figure(ClassificationMetrics(truth: truth, predicted: second, classes: count))
                    let interval = BootstrapInterval(truth: truth, first: first, second: second, classes: count, samples: bootstrapSamples, seed: seed, figure: figure)
                    return (value, SplitFigures.Interval(low: interval.low, high: interval.high))
                }
                let (f1, f1Interval) = difference(\.weightedF1), (accuracy, accuracyInterval) = difference(\.accuracy)
                comparisons.append(Comparison(model: label(entry), against: label(single), clips: paired.count, weightedF1Difference: f1,
                                              weightedF1Interval: f1Interval, accuracyDifference: accuracy, accuracyInterval: accuracyInterval))
            }
        }
        self.comparisons = comparisons
        guard !several.isEmpty else { return }
        aggregates = try byModel.map { model, runs in
            let all = runs.flatMap(\.predictions)
            let pooled = ClassificationMetrics(truth: try classes.indices(of: all.map(\.truth)), predicted: try classes.indices(of: all.map(\.predicted)), classes: classes.count)
            return Aggregate(model: model, runs: runs.map { Self.run(ofStage: $0.stage) }, weightedF1: Spread(runs.map(\.figures.weightedF1)),
                             accuracy: Spread(runs.map(\.figures.accuracy)), macroF1: Spread(runs.map(\.figures.macroF1)),
                             pooledWeightedF1: pooled.weightedF1, pooledAccuracy: pooled.accuracy, pooledClips: all.count)
        }
        runComparisons = byModel.filter { !Self.singleModalities.contains($0.model) }.flatMap { fusion in
            byModel.filter { Self.singleModalities.contains($0.model) }.map { single in
                let differences = fusion.runs.compactMap { run in
                    single.runs.first { paired(run, $0) }.map { run.figures.weightedF1 - $0.figures.weightedF1 }
                }
                return RunComparison(model: fusion.model, against: single.model, runs: differences.count, weightedF1Difference: Spread(differences),
                                     higherIn: differences.filter { $0 > 0 }.count)
            }
        }
    }

    // MARK: Rendering

    private func percent(_ value: Double) -> String { String(format: "%.1f", value * 100) }
    private func signed(_ value: Double) -> String { String(format: "%+.1f", value * 100) }
    private func interval(_ value: SplitFigures.Interval, signed: Bool = false) -> String {
        signed ? "[\(self.signed(value.low)), \(self.signed(value.high))]" : "[\(percent(value.low)), \(percent(value.high))]"
    }

    /// The cells of every row: name, accuracy, weighted F1, macro F1, then F1 per class; all in percent.
    private var cells: [[String]] {
        var rows = models.map { row in
            [row.model, "\(percent(row.accuracy)) \(interval(row.accuracyInterval))", "\(percent(row.weightedF1)) \(interval(row.weightedF1Interval))",
             percent(row.macroF1)] + classes.map { percent(row.perClassF1[$0] ?? 0) }
        }
        if let baseline {
            rows.append(["always \(baseline.predicts) (majority baseline)", percent(baseline.accuracy), percent(baseline.weightedF1), percent(baseline.macroF1)]
                        + classes.map { $0 == baseline.predicts ? "" : "0.0" })
        }
        for limit in ceiling {
            rows.append(["ceiling: perfect perception of \(limit.channels == "both" ? "face and voice" : limit.channels)", percent(limit.accuracy),
                         percent(limit.weightedF1), percent(limit.macroF1)] + classes.map { percent(limit.perClassF1[$0] ?? 0) })
        }
        return rows
    }

    private var header: [String] { ["model", "accuracy [95 % CI]", "weighted F1 [95 % CI]", "macro F1"] + classes.map { "F1 \($0)" } }

    private static let comparisonHeader = ["model", "against", "clips", "weighted F1 difference [95 % CI]", "accuracy difference [95 % CI]", "better"]

    private static let deploymentHeader = ["exported model", "int8 form", "clips", "weighted F1", "int8 weighted F1", "int8 minus float [95 % CI]",
                                           "same class"]
    private static let deploymentTitle = "The exported model in floats and in int8 (same clips, paired bootstrap)"

    private var deploymentCells: [[String]] {
        deployments.map { d in
            ["\(d.model) (\(d.stage))", d.form, "\(d.clips)", percent(d.weightedF1), percent(d.int8WeightedF1),
             "\(signed(d.difference)) \(interval(d.interval, signed: true))", percent(d.agreement)]
        }
    }

    /// The cells of each fusion-against-modality row, differences in percentage points.
    private var comparisonCells: [[String]] {
        comparisons.map { c in
            [c.model, c.against, "\(c.clips)", "\(signed(c.weightedF1Difference)) \(interval(c.weightedF1Interval, signed: true))",
             "\(signed(c.accuracyDifference)) \(interval(c.accuracyInterval, signed: true))", c.better ? "yes" : "not shown"]
        }
    }

    private static let aggregateHeader = ["model", "runs", "weighted F1 mean ± sd", "accuracy mean ± sd", "macro F1 mean ± sd", "pooled weighted F1",
                                          "pooled accuracy", "pooled clips"]
    private static let aggregateTitle = "Each model over its runs (seeds or folds)"
    private static let runComparisonHeader = ["model", "against", "paired runs", "weighted F1 difference mean ± sd", "higher in"]
    private static let runComparisonTitle = "Fusion against each single modality over the runs (paired by run)"

    private func spread(_ value: Spread) -> String { "\(percent(value.mean)) ± \(percent(value.deviation))" }

    private var aggregateCells: [[String]] {
        (aggregates ?? []).map { a in
            [a.model, a.runs.joined(separator: ", "), spread(a.weightedF1), spread(a.accuracy), spread(a.macroF1), percent(a.pooledWeightedF1),
             percent(a.pooledAccuracy), "\(a.pooledClips)"]
        }
    }

    private var runComparisonCells: [[String]] {
        (runComparisons ?? []).map { c in
            [c.model, c.against, "\(c.runs)", "\(signed(c.weightedF1Difference.mean)) ± \(percent(c.weightedF1Difference.deviation))", "\(c.higherIn) of \(c.runs)"]
        }
    }

    /// The tables after the main one, each with its title, header and rows.
    private var sections: [(title: String, header: [String], rows: [[String]])] {
        var sections: [(String, [String], [[String]])] = []
        if !comparisons.isEmpty { sections.append(("Fusion against each single modality (same clips, paired bootstrap)", Self.comparisonHeader, comparisonCells)) }
        if aggregates != nil { sections.append((Self.aggregateTitle, Self.aggregateHeader, aggregateCells)) }
        if let runComparisons, !runComparisons.isEmpty { sections.append((Self.runComparisonTitle, Self.runComparisonHeader, runComparisonCells)) }
        if !deployments.isEmpty { sections.append((Self.deploymentTitle, Self.deploymentHeader, deploymentCells)) }
        return sections
    }

    public func markdown() -> String {
        var text = "# Results on the \(split) split\n\nFigures in percent; intervals are 95 % bootstrap intervals over the split's clips.\n\n"
        text += "| " + header.joined(separator: " | ") + " |\n|" + header.map { _ in " --- |" }.joined() + "\n"
        for row in cells { text += "| " + row.joined(separator: " | ") + " |\n" }
        for line in notRun ?? [] { text += "\nNot run: \(line)\n" }
        if !ceiling.isEmpty {
            text += "\nCeilings: what a model that perceived the generated channels perfectly could reach (the generator's truth.csv, each thing perceived mapped to its likeliest label).\n"
        }
        for section in sections {
            text += "\n## \(section.title)\n\n| " + section.header.joined(separator: " | ") + " |\n|" + section.header.map { _ in " --- |" }.joined() + "\n"
            for row in section.rows { text += "| " + row.joined(separator: " | ") + " |\n" }
        }
        return text
    }

    public func html() -> String {
        var page = HTMLPage.head(title: "Results on the \(split) split")
        page += "<p>Figures in percent; intervals are 95 % bootstrap intervals over the split's clips.</p>\n<table><tr>"
            + header.map { "<th>\(HTMLPage.escape($0))</th>" }.joined() + "</tr>\n"
        for row in cells { page += "<tr>" + row.map { "<td>\(HTMLPage.escape($0))</td>" }.joined() + "</tr>\n" }
        page += "</table>\n"
        for line in notRun ?? [] { page += "<p>Not run: \(HTMLPage.escape(line))</p>\n" }
        for section in sections {
            page += "<h2>\(HTMLPage.escape(section.title))</h2>\n<table><tr>" + section.header.map { "<th>\(HTMLPage.escape($0))</th>" }.joined() + "</tr>\n"
            for row in section.rows { page += "<tr>" + row.map { "<td>\(HTMLPage.escape($0))</td>" }.joined() + "</tr>\n" }
            page += "</table>\n"
        }
        page += "<h2>Weighted F1 with its interval</h2>\n" + chart().markup + "\n"
        return page + "</body></html>\n"
    }

    /// Horizontal bars of weighted F1, each with its interval drawn in a lane above it (a whisker with end caps, never
    /// hidden by the bar); the majority baseline and the ceilings as dashed vertical lines named in a legend below.
    func chart() -> SVGFigure {
        let longest = models.map { SVGFigure.textWidth($0.model) }.max() ?? 0
        let (left, width, row, top) = (longest + 12, 420.0, 30.0, 30.0)
        let lines: [(String, Double, String)] = (baseline.map { [("majority baseline", $0.weightedF1, "#888")] } ?? [])
            + ceiling.map { ("ceiling: perfect perception of \($0.channels)", $0.weightedF1, "#2a9d5c") }
        let bottom = top + Double(models.count) * row
        let legendTop = bottom + 44
        func x(_ value: Double) -> Double { left + value * width }
        let title = "weighted F1 with its 95 % interval (the line above each bar)"
        let legendWidth = lines.map { SVGFigure.textWidth($0.0 + " 0.000") + 30 }.max() ?? 0
        var figure = SVGFigure(width: max(left + width + 50, SVGFigure.textWidth(title) + 8, left + legendWidth), height: legendTop + Double(lines.count) * 16 + 6)
        figure.text(title, x: 4, y: 16)
        for line in lines { figure.line(x(line.1), top - 4, x(line.1), bottom, stroke: line.2, dashed: true) }
        for (i, model) in models.enumerated() {
            let y = top + Double(i) * row
            figure.text(model.model, x: left - 6, y: y + 20, anchor: .end)
            figure.rect(x: left, y: y + 8, width: x(model.weightedF1) - left, height: row - 12, fill: "#4a6fd4")
            let (low, high) = (x(model.weightedF1Interval.low), x(model.weightedF1Interval.high))
            figure.line(low, y + 4, high, y + 4, stroke: "#111", width: 1.5)
            figure.line(low, y + 1, low, y + 7, stroke: "#111", width: 1.5)
            figure.line(high, y + 1, high, y + 7, stroke: "#111", width: 1.5)
            figure.text(String(format: "%.3f", model.weightedF1), x: max(x(model.weightedF1), high) + 4, y: y + 20)
        }
        figure.line(left, bottom, left + width, bottom, stroke: "#888")
        for tick in stride(from: 0.0, through: 1.0, by: 0.2) {
            figure.line(x(tick), bottom, x(tick), bottom + 4, stroke: "#888")
            figure.text(String(format: "%.1f", tick), x: x(tick), y: bottom + 15, anchor: .middle)
        }
        figure.text("weighted F1 (0 to 1)", x: left + width / 2, y: bottom + 30, anchor: .middle)
        for (i, line) in lines.enumerated() {
            let y = legendTop + Double(i) * 16
            figure.line(left, y - 4, left + 22, y - 4, stroke: line.2, width: 1.5, dashed: true)
            figure.text(line.0 + " " + String(format: "%.3f", line.1), x: left + 28, y: y, fill: line.2)
        }
        return figure
    }
}
