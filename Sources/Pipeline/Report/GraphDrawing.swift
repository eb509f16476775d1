import Foundation
import WebPages

/// The stage graph drawn as SVG for the overview page, with no layout program: stages in rows by their depth (the
/// longest chain of stages above them), a row too long for the page wrapped, each row ordered by where its upstream
/// stages sit so that edges cross little; edges run from a stage's bottom to its downstream stage's top.
struct GraphDrawing {
    /// Fill, outline and name of each outcome a stage can have in a run.
    static let outcomes: [(state: String, fill: String, stroke: String, name: String)] = [
        ("ran", "#9bdc9f", "#2e7d32", "ran"), ("up to date", "#d3e4fb", "#4a6fd4", "up to date"), ("failed", "#f4a3a3", "#b71c1c", "failed"),
        ("skipped", "#f6d68c", "#9a6b00", "not run: upstream failed"), ("", "#f2f2f2", "#999", "not requested"),
    ]

    static let maximumWidth = 1180.0
    static let nodeHeight = 34.0
    static let rowGap = 34.0
    static let columnGap = 14.0

    let graph: PipelineGraph
    /// Each stage's outcome (a `StageReport.State` raw value); absent for stages this run did not include.
    let states: [String: String]
    /// The smaller second line under each stage's name (units run and cached).
    let notes: [String: String]

    func draw() -> SVGFigure {
        let names = graph.stages.map(\.name)
        var depth: [String: Int] = [:]
        for stage in graph.stages { depth[stage.name] = stage.upstream.compactMap { depth[$0] }.max().map { $0 + 1 } ?? 0 }
        let nodeWidth = max(96, names.map { SVGFigure.textWidth($0) }.max() ?? 0) + 16
        let perRow = max(1, Int((Self.maximumWidth + Self.columnGap) / (nodeWidth + Self.columnGap)))

        // Rows, and each stage's centre; a layer's stages sorted by the mean position of their upstream stages.
        var centre: [String: (x: Double, y: Double)] = [:]
        var rows: [[String]] = []
        for layer in 0...(depth.values.max() ?? 0) {
            let members = names.enumerated().filter { depth[$0.element] == layer }.map { (index: $0.offset, name: $0.element) }
            func barycentre(_ name: String) -> Double {
                let above = graph.stage(name)!.upstream.compactMap { centre[$0]?.x }
                return above.isEmpty ? .infinity : above.reduce(0, +) / Double(above.count)
            }
            let ordered = members.sorted { (barycentre($0.name), $0.index) < (barycentre($1.name), $1.index) }.map(\.name)
            for start in stride(from: 0, to: ordered.count, by: perRow) {
                let row = Array(ordered[start..<min(ordered.count, start + perRow)])
                let y = 40 + Double(rows.count) * (Self.nodeHeight + Self.rowGap)
                let rowWidth = Double(row.count) * nodeWidth + Double(row.count - 1) * Self.columnGap
                let widest = Double(min(perRow, names.count)) * (nodeWidth + Self.columnGap) - Self.columnGap
                for (i, name) in row.enumerated() {
                    centre[name] = (8 + (widest - rowWidth) / 2 + Double(i) * (nodeWidth + Self.columnGap) + nodeWidth / 2, y + Self.nodeHeight / 2)
                }
                rows.append(row)
            }
        }
        let width = Double(min(perRow, names.count)) * (nodeWidth + Self.columnGap) - Self.columnGap + 16
        var figure = SVGFigure(width: max(width, legendWidth() + 16), height: 40 + Double(rows.count) * (Self.nodeHeight + Self.rowGap))
        drawLegend(&figure)
        figure.raw("<defs><marker id=\"arrow\" viewBox=\"0 0 8 8\" refX=\"8\" refY=\"4\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\">"
                   + "<path d=\"M0,0 L8,4 L0,8 z\" fill=\"#777\"/></marker></defs>")
        for stage in graph.stages {
            guard let to = centre[stage.name] else { continue }
            for upstream in stage.upstream {
                guard let from = centre[upstream] else { continue }
                let (x1, y1, x2, y2) = (from.x, from.y + Self.nodeHeight / 2, to.x, to.y - Self.nodeHeight / 2)
                let bend = max(12, (y2 - y1) / 2)
                figure.raw("<path d=\"M\(Self.number(x1)),\(Self.number(y1)) C\(Self.number(x1)),\(Self.number(y1 + bend)) \(Self.number(x2)),\(Self.number(y2 - bend)) "
                           + "\(Self.number(x2)),\(Self.number(y2))\" fill=\"none\" stroke=\"#8a8a8a\" stroke-opacity=\"0.7\" stroke-width=\"1\" marker-end=\"url(#arrow)\"/>")
            }
        }
        for stage in graph.stages {
            guard let point = centre[stage.name] else { continue }
            let state = states[stage.name] ?? ""
            let look = Self.outcomes.first { $0.state == state } ?? Self.outcomes.last!
            let (left, top) = (point.x - nodeWidth / 2, point.y - Self.nodeHeight / 2)
            figure.raw("<a href=\"\(HTMLPage.escape(HTMLPage.href(stage.name)))/\"><g class=\"stage\" data-stage=\"\(HTMLPage.escape(stage.name))\">")
            figure.rect(x: left, y: top, width: nodeWidth, height: Self.nodeHeight, fill: look.fill, stroke: look.stroke, rounded: 5,
                        title: "\(stage.name) (\(stage.kind.name)): \(look.name)" + (notes[stage.name].map { "; " + $0 } ?? ""))
            figure.text(stage.name, x: point.x, y: top + 15, anchor: .middle, fill: "#111")
            if let note = notes[stage.name] { figure.text(note, x: point.x, y: top + 28, anchor: .middle, fill: "#444", size: 9) }
            figure.raw("</g></a>")
        }
        return figure
    }

    private func legendWidth() -> Double {
        Self.outcomes.reduce(0) { $0 + 22 + SVGFigure.textWidth($1.name) + 16 }
    }

    private func drawLegend(_ figure: inout SVGFigure) {
        var x = 8.0
        for outcome in Self.outcomes {
            figure.rect(x: x, y: 6, width: 16, height: 12, fill: outcome.fill, stroke: outcome.stroke, rounded: 2)
            figure.text(outcome.name, x: x + 22, y: 16)
            x += 22 + SVGFigure.textWidth(outcome.name) + 16
        }
    }

    private static func number(_ value: Double) -> String { String(format: "%.1f", value) }
}
