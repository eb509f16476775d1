/// The pipeline graph as text for people, or as Graphviz dot or Mermaid for drawing.
public enum GraphFormat: String, CaseIterable, Sendable {
    case text, dot, mermaid
}

extension PipelineGraph {
    public func render(_ format: GraphFormat) -> String {
        switch format {
        case .text: return renderText()
        case .dot: return renderDot()
        case .mermaid: return renderMermaid()
        }
    }

    private func inputs(of stage: GraphStage) -> [(label: String, isPath: Bool, viaMap: Bool)] {
        var result: [(String, Bool, Bool)] = []
        switch stage.map {
        case .stage(let name, nil)?: result.append((name, false, true))
        case .stage(let name, let glob?)?: result.append((name + " (" + glob + ")", false, true))
        case .files(let path, let glob)?: result.append(("\(path)/\(glob)", true, true))
        case nil: break
        }
        for dep in stage.deps {
            switch dep {
            case .stage(let name): result.append((name, false, false))
            case .path(let path): result.append((path, true, false))
            }
        }
        for join in stage.join where !stage.deps.contains(.stage(join.stage)) { result.append((join.stage, false, false)) }
        return result
    }

    private func renderText() -> String {
        var lines: [String] = []
        for stage in stages {
            let shape = stage.buckets.map { "\($0) buckets" } ?? (stage.kind.isMap ? "map" : "whole")
            lines.append("\(stage.name)  [\(stage.kind.name) v\(stage.kind.version), \(shape)]")
            for input in inputs(of: stage) {
                let arrow = input.viaMap ? "=> per item of" : "<-"
                lines.append("    \(arrow) \(input.isPath ? "path " : "")\(input.label)")
            }
        }
        return lines.joined(separator: "\n")
    }

    private static func quoteDot(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    private func renderDot() -> String {
        var lines = ["digraph \(PipelineGraph.quoteDot(name)) {", "  rankdir=LR;"]
        var paths: [String] = []
        for stage in stages {
            let shape = stage.kind.isMap ? "box3d" : "box"
            lines.append("  \(PipelineGraph.quoteDot(stage.name)) [shape=\(shape), label=\(PipelineGraph.quoteDot("\(stage.name)\n\(stage.kind.name)"))];")
        }
        for stage in stages {
            for input in inputs(of: stage) {
                let source = input.isPath ? "path:" + input.label : input.label
                if input.isPath && !paths.contains(source) {
                    paths.append(source)
                    lines.append("  \(PipelineGraph.quoteDot(source)) [shape=folder, label=\(PipelineGraph.quoteDot(input.label))];")
                }
                let style = input.viaMap ? " [style=bold, label=\"map\"]" : ""
                lines.append("  \(PipelineGraph.quoteDot(source)) -> \(PipelineGraph.quoteDot(stage.name))\(style);")
            }
        }
        lines.append("}")
        return lines.joined(separator: "\n")
    }

    private func renderMermaid() -> String {
        var ids: [String: String] = [:]
        func id(_ key: String) -> String {
            if let known = ids[key] { return known }
            let made = "n\(ids.count)"
            ids[key] = made
            return made
        }
        func label(_ text: String) -> String { text.replacingOccurrences(of: "\"", with: "#quot;") }
        var lines = ["flowchart LR"]
        for stage in stages {
            let text = label("\(stage.name)<br/>\(stage.kind.name)")
            lines.append(stage.kind.isMap ? "  \(id("stage:" + stage.name))[[\"\(text)\"]]" : "  \(id("stage:" + stage.name))[\"\(text)\"]")
        }
        for stage in stages {
            for input in inputs(of: stage) {
                let key = (input.isPath ? "path:" : "stage:") + input.label
                if input.isPath && ids[key] == nil { lines.append("  \(id(key))[(\"\(label(input.label))\")]") }
                let arrow = input.viaMap ? "==>|map|" : "-->"
                lines.append("  \(id(key)) \(arrow) \(id("stage:" + stage.name))")
            }
        }
        return lines.joined(separator: "\n")
    }
}
