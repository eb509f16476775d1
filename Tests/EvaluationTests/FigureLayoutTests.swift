@testable import Evaluation
import Labels
import WebPages
import XCTest

/// Issue 30's figure flaws, checked on the figures' own geometry (the page tests check the same in Chromium): whole
/// class names on the confusion axes, no label over another or outside its figure, intervals in their own lane above
/// the bars, a smoothed loss line, axes named with units.
final class FigureLayoutTests: XCTestCase {
    static let classes = try! LabelSet(["neutral", "frustration", "joy", "sadness", "anger", "surprise", "fear", "disgust"])

    static func predictions(split: String, seed: Int) -> [Prediction] {
        (0..<160).map { i in
            let truth = classes[i % classes.count], predicted = classes[(i * 7 + seed) % 5 == 0 ? (i + 1) % classes.count : i % classes.count]
            return Prediction(split: split, clip: "c\(i)", truth: truth, predicted: predicted, probabilities: [], faceFound: true)
        }
    }

    func assertClean(_ figure: SVGFigure, _ name: String, file: StaticString = #filePath, line: UInt = #line) {
        let overlapping = figure.overlappingLabels().map { "'\($0.0.text)' over '\($0.1.text)'" }
        XCTAssertEqual(overlapping, [], name, file: file, line: line)
        XCTAssertEqual(figure.labelsOutside().map(\.text), [], name, file: file, line: line)
        XCTAssertLessThanOrEqual(figure.width, 1180, name, file: file, line: line)
    }

    func testTheEvaluationReportsFiguresKeepTheirLabelsApart() throws {
        let figures = try SplitFigures(split: "test", predictions: Self.predictions(split: "test", seed: 1), classes: Self.classes, majority: 0,
                                       bootstrapSamples: 50, seed: 1)
        var report = HTMLReport(title: "t", classes: Self.classes, splits: [figures])
        report.loss = (1...400).map { (step: $0, value: 2 * exp(-Double($0) / 150) + Double(($0 * 7919) % 13) / 20) }
        report.devF1 = (1...6).map { (epoch: $0, value: 0.3 + 0.05 * Double($0)) }

        let heatMap = report.heatMap(figures.normalizedConfusion, counts: figures.confusion)
        assertClean(heatMap, "confusion")
        for name in Self.classes { XCTAssertEqual(heatMap.labels.filter { $0.text == name }.count, 2, "\(name) whole on both axes") }
        XCTAssertTrue(heatMap.labels.contains { $0.text == "truth" } && heatMap.labels.contains { $0.text == "prediction" })
        assertClean(report.bars(Self.classes.map { (name: $0, value: figures.perClass[$0]!.f1, support: figures.perClass[$0]!.support) }), "per-class F1")

        let loss = report.curve(report.loss.map { (Double($0.step), $0.value) }, title: "loss", x: "optimiser step", y: "loss (cross-entropy, nats)", smoothing: 33)
        assertClean(loss, "loss")
        XCTAssertTrue(loss.markup.contains("stroke-opacity=\"0.3\""), "the raw line drawn faint under the smoothed one")
        XCTAssertEqual(loss.markup.components(separatedBy: "<polyline").count - 1, 2)
        XCTAssertTrue(loss.labels.contains { $0.text == "loss (cross-entropy, nats)" } && loss.labels.contains { $0.text == "optimiser step" })

        let html = report.html()
        XCTAssertTrue(html.contains("mean of 33 steps"), "the page's loss chart is smoothed over a twelfth of its steps")
        XCTAssertFalse(html.contains(">neutr<") || html.contains(">frust<"), "no class name cut short")
    }

    func testMovingMeanAveragesEachPointsNeighbours() {
        XCTAssertEqual(HTMLReport.movingMean([1, 2, 3, 4, 101], over: 3), [1.5, 2, 3, 36, 52.5])
        XCTAssertEqual(HTMLReport.movingMean([5, 7], over: 1), [5, 7])
    }

    /// Ceilings a few thousandths apart once drew their names over each other; now each has a legend row, and each
    /// model's interval sits in a lane above its bar.
    func testTheResultsChartsLegendAndIntervalsStayClear() throws {
        let evaluated = try ["visual", "audio", "cross_attention"].enumerated().map { index, model in
            ResultsTable.Evaluated(model: model, stage: "evaluate@" + model,
                                   figures: try SplitFigures(split: "test", predictions: Self.predictions(split: "test", seed: index), classes: Self.classes,
                                                             majority: 0, bootstrapSamples: 50, seed: 1),
                                   predictions: Self.predictions(split: "test", seed: index))
        }
        let ceilings = [("face", 0.761), ("voice", 0.758), ("both", 0.764)].map {
            PerceptionCeiling(channels: $0.0, clips: 160, accuracy: $0.1, weightedF1: $0.1, macroF1: $0.1, perClassF1: [:])
        }
        let table = try ResultsTable(split: "test", classes: Self.classes, evaluated: evaluated, ceiling: ceilings, bootstrapSamples: 50, seed: 1)
        let chart = table.chart()
        assertClean(chart, "weighted F1")
        for name in ["ceiling: perfect perception of face 0.761", "ceiling: perfect perception of voice 0.758", "majority baseline"] {
            XCTAssertTrue(chart.labels.contains { $0.text.hasPrefix(name) }, name)
        }
        // Each interval's whisker is drawn above its bar's top, not across it.
        let bars = chart.markup.components(separatedBy: "<rect ").dropFirst().compactMap { Self.attribute("y", in: $0) }
        let whiskers = chart.markup.components(separatedBy: "<line ").dropFirst().filter { $0.contains("stroke=\"#111\"") }
            .compactMap { Self.attribute("y1", in: $0) }
        XCTAssertEqual(bars.count, 3)
        for (i, top) in bars.enumerated() { XCTAssertLessThan(whiskers[i * 3], top, "model \(i)'s interval above its bar") }
    }

    static func attribute(_ name: String, in element: String) -> Double? {
        guard let start = element.range(of: " \(name)=\"") ?? (element.hasPrefix("\(name)=\"") ? element.range(of: "\(name)=\"") : nil) else { return nil }
        return Double(element[start.upperBound...].prefix { $0 != "\"" })
    }
}
