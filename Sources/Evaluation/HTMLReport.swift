import Foundation
import Labels

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
            page += heatMap(split.normalizedConfusion, counts: split.confusion) + "\n"
            page += bars(classes.map { (name: $0, value: split.perClass[$0]?.f1 ?? 0, support: split.perClass[$0]?.support ?? 0) }) + "\n</div>\n"
        }
        if !loss.isEmpty || !devF1.isEmpty {
            page += "<h2>Training</h2>\n<div class=\"figures\">\n"
            if !loss.isEmpty { page += curve(loss.map { (Double($0.step), $0.value) }, title: "training loss per step", x: "step") + "\n" }
            if !devF1.isEmpty { page += curve(devF1.map { (Double($0.epoch), $0.value) }, title: "dev weighted F1 per epoch", x: "epoch", dots: true) + "\n" }
            page += "</div>\n"
        }
        return page + "</body></html>\n"
    }

    /// Rows are true classes, columns predictions; each cell's shade is its share of the row.
    func heatMap(_ shares: [[Double]], counts: [[Int]]) -> String {
        let cell = 46, left = 70, top = 40, n = classes.count
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(left + n * cell + 10)\" height=\"\(top + n * cell + 40)\" role=\"img\">"
        svg += "<text x=\"\(left)\" y=\"14\">normalised confusion (rows: truth; columns: prediction)</text>"
        for (c, name) in classes.enumerated() {
            svg += "<text x=\"\(left + c * cell + cell / 2)\" y=\"\(top - 6)\" text-anchor=\"middle\">\(escape(String(name.prefix(5))))</text>"
            svg += "<text x=\"\(left - 6)\" y=\"\(top + c * cell + cell / 2 + 4)\" text-anchor=\"end\">\(escape(name))</text>"
        }
        for row in 0..<n {
            for column in 0..<n {
                let share = shares[row][column]
                let shade = Int((1 - share) * 235) + 20
                let (x, y) = (left + column * cell, top + row * cell)
                svg += "<rect x=\"\(x)\" y=\"\(y)\" width=\"\(cell)\" height=\"\(cell)\" fill=\"rgb(\(shade),\(shade),255)\" stroke=\"#fff\">"
                    + "<title>\(classes[row]) as \(classes[column]): \(counts[row][column])</title></rect>"
                svg += "<text x=\"\(x + cell / 2)\" y=\"\(y + cell / 2 + 4)\" text-anchor=\"middle\" fill=\"\(share > 0.55 ? "#fff" : "#222")\">"
                    + String(format: "%.2f", share) + "</text>"
            }
        }
        return svg + "</svg>"
    }

    func bars(_ values: [(name: String, value: Double, support: Int)]) -> String {
        let (left, width, row) = (70, 260, 26)
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(left + width + 90)\" height=\"\(values.count * row + 40)\" role=\"img\">"
        svg += "<text x=\"\(left)\" y=\"14\">F1 per class (support)</text>"
        for (i, entry) in values.enumerated() {
            let y = 26 + i * row
            svg += "<text x=\"\(left - 6)\" y=\"\(y + 14)\" text-anchor=\"end\">\(escape(entry.name))</text>"
            svg += "<rect x=\"\(left)\" y=\"\(y)\" width=\"\(Int(entry.value * Double(width)))\" height=\"\(row - 8)\" fill=\"#4a6fd4\"/>"
            svg += "<text x=\"\(left + Int(entry.value * Double(width)) + 4)\" y=\"\(y + 14)\">" + String(format: "%.2f", entry.value) + " (\(entry.support))</text>"
        }
        return svg + "</svg>"
    }

    func curve(_ points: [(Double, Double)], title: String, x: String, dots: Bool = false) -> String {
        let (left, top, width, height) = (50, 30, 360, 200)
        let xs = points.map(\.0), ys = points.map(\.1)
        let (x0, x1) = (xs.min()!, max(xs.max()!, xs.min()! + 1)), (y0, y1) = (min(ys.min()!, 0), max(ys.max()!, 1e-9))
        func px(_ v: Double) -> Double { Double(left) + (v - x0) / (x1 - x0) * Double(width) }
        func py(_ v: Double) -> Double { Double(top + height) - (v - y0) / (y1 - y0) * Double(height) }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(left + width + 20)\" height=\"\(top + height + 40)\" role=\"img\">"
        svg += "<text x=\"\(left)\" y=\"16\">\(escape(title))</text>"
        svg += "<line x1=\"\(left)\" y1=\"\(top + height)\" x2=\"\(left + width)\" y2=\"\(top + height)\" stroke=\"#888\"/>"
        svg += "<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(top + height)\" stroke=\"#888\"/>"
        svg += "<text x=\"\(left - 4)\" y=\"\(top + 4)\" text-anchor=\"end\">" + String(format: "%.3g", y1) + "</text>"
        svg += "<text x=\"\(left - 4)\" y=\"\(top + height)\" text-anchor=\"end\">" + String(format: "%.3g", y0) + "</text>"
        svg += "<text x=\"\(left)\" y=\"\(top + height + 16)\">\(Int(x0))</text>"
        svg += "<text x=\"\(left + width)\" y=\"\(top + height + 16)\" text-anchor=\"end\">\(Int(x1)) \(escape(x))</text>"
        let path = points.map { String(format: "%.1f,%.1f", px($0.0), py($0.1)) }.joined(separator: " ")
        svg += "<polyline fill=\"none\" stroke=\"#d4584a\" stroke-width=\"1.5\" points=\"\(path)\"/>"
        if dots { for p in points { svg += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#d4584a\"/>", px(p.0), py(p.1)) } }
        return svg + "</svg>"
    }

    func percent(_ value: Double) -> String { String(format: "%.1f", value * 100) }

    func escape(_ text: String) -> String { HTMLPage.escape(text) }
}
