import Foundation
import Labels
import WebPages

/// `report.html`: one self-contained page (no script, no font or style from anywhere) with the figures table, the
/// normalised confusion matrix as a heat map and per-class F1 bars for each split, and the training curves, all
/// drawn here as SVG.
public struct HTMLReport {
    public var title: String
    public var classes: LabelSet
    public var splits: [SplitFigures]
    /// Loss per optimiser step, and dev weighted F1 per epoch, from the training's `metrics.jsonl`.
    public var loss: [(step: Int, value: Double)] = []
    public var devF1: [(epoch: Int, value: Double)] = []
    /// Lines about the model (fusion, epoch, parameters), shown under the title.
    public var about: [String] = []

    public init(title: String, classes: LabelSet, splits: [SplitFigures]) {
        self.title = title
        self.classes = classes
        self.splits = splits
    }

    /// Reads the step and epoch lines of a training's `metrics.jsonl`.
    public mutating func readCurves(metrics: Data) {
        for line in metrics.split(separator: 0x0A) {
            guard let record = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else { continue }
            if let f1 = record["dev_weighted_f1"] as? Double, let epoch = record["epoch"] as? Int {
                devF1.append((epoch, f1))
            } else if let loss = record["loss"] as? Double, let step = record["step"] as? Int {
                self.loss.append((step, loss))
            }
        }
    }

    public func html() -> String {
        var page = HTMLPage.head(title: title)
        for line in about { page += "<p>\(escape(line))</p>\n" }
        page += "<h2>Figures</h2>\n<table><tr><th>split</th><th>model</th><th>clips</th><th>accuracy (95 % interval)</th><th>weighted F1 (95 % interval)</th><th>macro F1</th></tr>\n"
        for split in splits {
            page += "<tr><td>\(escape(split.split))</td><td>this model</td><td>\(split.clips)</td>"
                + "<td>\(percent(split.accuracy)) (\(percent(split.accuracyInterval.low))–\(percent(split.accuracyInterval.high)))</td>"
                + "<td>\(percent(split.weightedF1)) (\(percent(split.weightedF1Interval.low))–\(percent(split.weightedF1Interval.high)))</td>"
                + "<td>\(percent(split.macroF1))</td></tr>\n"
            page += "<tr><td>\(escape(split.split))</td><td>always \(escape(split.baseline.predicts))</td><td>\(split.clips)</td>"
                + "<td>\(percent(split.baseline.accuracy))</td><td>\(percent(split.baseline.weightedF1))</td><td>\(percent(split.baseline.macroF1))</td></tr>\n"
        }
        page += "</table>\n"
        for split in splits {
            page += "<h2>\(escape(split.split)): confusion and per-class F1</h2>\n<div class=\"figures\">\n"
            page += heatMap(split.normalizedConfusion, counts: split.confusion).markup + "\n"
            page += bars(classes.map { (name: $0, value: split.perClass[$0]?.f1 ?? 0, support: split.perClass[$0]?.support ?? 0) }).markup + "\n</div>\n"
        }
        if !loss.isEmpty || !devF1.isEmpty {
            page += "<h2>Training</h2>\n<div class=\"figures\">\n"
            if !loss.isEmpty {
                let window = max(1, loss.count / 12) | 1
                page += curve(loss.map { (Double($0.step), $0.value) }, title: "training loss per optimiser step" + (window > 1 ? ": raw (light), mean of \(window) steps (dark)" : ""),
                              x: "optimiser step", y: "loss (cross-entropy, nats)", smoothing: window).markup + "\n"
            }
            if !devF1.isEmpty {
                page += curve(devF1.map { (Double($0.epoch), $0.value) }, title: "dev weighted F1 after each epoch", x: "epoch", y: "weighted F1 (0 to 1)", dots: true).markup + "\n"
            }
            page += "</div>\n"
        }
        return page + "</body></html>\n"
    }

    /// Rows are true classes, columns predictions; each cell's shade is its share of the row. Column names stand upright
    /// (turned 90 degrees) so that whole names fit over narrow columns, however long.
    func heatMap(_ shares: [[Double]], counts: [[Int]]) -> SVGFigure {
        let cell = 46.0, n = classes.count
        let longest = classes.map { SVGFigure.textWidth($0) }.max() ?? 0
        let left = 24 + longest + 8, top = 22 + longest + 10
        let title = "normalised confusion: share of each true class's clips by prediction"
        let width = max(left + Double(n) * cell + 8, SVGFigure.textWidth(title) + 8)
        var figure = SVGFigure(width: width, height: top + Double(n) * cell + 24)
        figure.text(title, x: 4, y: 14)
        for (c, name) in classes.enumerated() {
            figure.text(name, x: left + (Double(c) + 0.5) * cell + 3, y: top - 6, rotation: -90)
            figure.text(name, x: left - 6, y: top + (Double(c) + 0.5) * cell + 4, anchor: .end)
        }
        figure.text("truth", x: 14, y: top + Double(n) * cell / 2, anchor: .middle, rotation: -90)
        figure.text("prediction", x: left + Double(n) * cell / 2, y: top + Double(n) * cell + 16, anchor: .middle)
        for row in 0..<n {
            for column in 0..<n {
                let share = shares[row][column]
                let shade = Int((1 - share) * 235) + 20
                let (x, y) = (left + Double(column) * cell, top + Double(row) * cell)
                figure.rect(x: x, y: y, width: cell, height: cell, fill: "rgb(\(shade),\(shade),255)", stroke: "#fff",
                            title: "\(classes[row]) as \(classes[column]): \(counts[row][column]) clip(s)")
                figure.text(String(format: "%.2f", share), x: x + cell / 2, y: y + cell / 2 + 4, anchor: .middle, fill: share > 0.55 ? "#fff" : "#222")
            }
        }
        return figure
    }

    func bars(_ values: [(name: String, value: Double, support: Int)]) -> SVGFigure {
        let longest = values.map { SVGFigure.textWidth($0.name) }.max() ?? 0
        let (left, width, row, top) = (longest + 12, 260.0, 26.0, 26.0)
        let labelRoom = SVGFigure.textWidth("1.00 (\(values.map(\.support).max() ?? 0))") + 8
        let title = "F1 per class (in brackets: the class's clips)"
        var figure = SVGFigure(width: max(left + width + labelRoom, SVGFigure.textWidth(title) + 8), height: top + Double(values.count) * row + 40)
        figure.text(title, x: 4, y: 14)
        for (i, entry) in values.enumerated() {
            let y = top + Double(i) * row
            figure.text(entry.name, x: left - 6, y: y + 14, anchor: .end)
            figure.rect(x: left, y: y, width: entry.value * width, height: row - 8, fill: "#4a6fd4")
            figure.text(String(format: "%.2f", entry.value) + " (\(entry.support))", x: left + entry.value * width + 4, y: y + 14)
        }
        axis(&figure, left: left, width: width, y: top + Double(values.count) * row, title: "F1 (0 to 1)")
        return figure
    }

    /// A line chart; `smoothing` draws the mean over that many neighbouring points over the raw line, which one
    /// batch's noise otherwise hides.
    func curve(_ points: [(Double, Double)], title: String, x: String, y: String, dots: Bool = false, smoothing: Int = 1) -> SVGFigure {
        let (left, top, width, height) = (64.0, 30.0, 360.0, 200.0)
        let xs = points.map(\.0), ys = points.map(\.1)
        let (x0, x1) = (xs.min()!, max(xs.max()!, xs.min()! + 1)), (y0, y1) = (min(ys.min()!, 0), max(ys.max()!, 1e-9))
        func px(_ v: Double) -> Double { left + (v - x0) / (x1 - x0) * width }
        func py(_ v: Double) -> Double { top + height - (v - y0) / (y1 - y0) * height }
        var figure = SVGFigure(width: max(left + width + 20, SVGFigure.textWidth(title) + 8), height: top + height + 40)
        figure.text(title, x: 4, y: 16)
        figure.line(left, top + height, left + width, top + height, stroke: "#888")
        figure.line(left, top, left, top + height, stroke: "#888")
        figure.text(String(format: "%.3g", y1), x: left - 4, y: top + 4, anchor: .end)
        figure.text(String(format: "%.3g", y0), x: left - 4, y: top + height, anchor: .end)
        figure.text(y, x: 14, y: top + height / 2, anchor: .middle, rotation: -90)
        figure.text(String(Int(x0)), x: left, y: top + height + 14)
        figure.text(String(Int(x1)), x: left + width, y: top + height + 14, anchor: .end)
        figure.text(x, x: left + width / 2, y: top + height + 30, anchor: .middle)
        let smoothed = smoothing > 1 ? Self.movingMean(ys, over: smoothing) : ys
        if smoothing > 1 { figure.polyline(points.map { (px($0.0), py($0.1)) }, stroke: "#d4584a", width: 1, opacity: 0.3) }
        figure.polyline(zip(xs, smoothed).map { (px($0.0), py($0.1)) }, stroke: smoothing > 1 ? "#9c2b1f" : "#d4584a", width: smoothing > 1 ? 2 : 1.5)
        if dots { for p in points { figure.circle(x: px(p.0), y: py(p.1), radius: 3, fill: "#d4584a") } }
        return figure
    }

    /// Each value replaced by the mean of the `window` values centred on it (fewer at the ends).
    static func movingMean(_ values: [Double], over window: Int) -> [Double] {
        let half = window / 2
        var sums = [0.0]
        for value in values { sums.append(sums.last! + value) }
        return values.indices.map { i in
            let (low, high) = (max(0, i - half), min(values.count, i + half + 1))
            return (sums[high] - sums[low]) / Double(high - low)
        }
    }

    /// A horizontal axis from 0 to 1 under bars, with ticks every 0.2 and its title.
    func axis(_ figure: inout SVGFigure, left: Double, width: Double, y: Double, title: String) {
        figure.line(left, y, left + width, y, stroke: "#888")
        for tick in stride(from: 0.0, through: 1.0, by: 0.2) {
            figure.line(left + tick * width, y, left + tick * width, y + 4, stroke: "#888")
            figure.text(String(format: "%.1f", tick), x: left + tick * width, y: y + 15, anchor: .middle)
        }
        figure.text(title, x: left + width / 2, y: y + 30, anchor: .middle)
    }

    func percent(_ value: Double) -> String { String(format: "%.1f", value * 100) }

    func escape(_ text: String) -> String { HTMLPage.escape(text) }
}
