import Foundation
import WebPages

/// `out/PIPELINE/index.html`: one self-contained page for a run as a whole, written by every `run` (and by `emotion
/// report` for the last one): the stage graph coloured by outcome, each stage's units, time, failures and outputs, the
/// pages the stages wrote, the run's command, code and machine, and the earlier runs.
public struct RunOverview {
    let workspace: Workspace
    let graph: PipelineGraph
    let run: RunLog
    let earlier: [RunLog]
    let record: RunRecord

    /// The page for the latest run of `graph` logged in `workspace`; nil when none is.
    public init?(workspace: Workspace, graph: PipelineGraph) {
        let history = RunLog.history(workspace: workspace, pipeline: graph.name)
        guard let last = history.last else { return nil }
        self.init(workspace: workspace, graph: graph, run: last, earlier: history.dropLast().reversed(),
                  record: RunRecord.load(workspace: workspace, pipeline: graph.name))
    }

    init(workspace: Workspace, graph: PipelineGraph, run: RunLog, earlier: [RunLog], record: RunRecord) {
        self.workspace = workspace
        self.graph = graph
        self.run = run
        self.earlier = earlier
        self.record = record
    }

    public var path: String { workspace.out + "/" + graph.name + "/index.html" }

    /// Writes the page in place of the last one, whole.
    @discardableResult
    public func write() throws -> String {
        try FileManager.default.createDirectory(atPath: workspace.out + "/" + graph.name, withIntermediateDirectories: true)
        try AtomicFile.write(Data(html().utf8), to: path)
        return path
    }

    func html() -> String {
        let stages = Dictionary(run.stages.map { ($0.name, $0) }, uniquingKeysWith: { $1 })
        var page = HTMLPage.head(title: "Run of \(graph.name)", style: """
            .ran { background: #9bdc9f; } .failed { background: #f4a3a3; } .skipped { background: #f6d68c; } .uptodate { background: #d3e4fb; }
            td.text, table.about td { text-align: left; } td.state, td.time { white-space: nowrap; } ul.failures { font-family: monospace; font-size: 0.9em; }
            """)
        let counts = ["ran", "up to date", "failed", "skipped"].map { state in (state, run.stages.filter { $0.state == state }.count) }.filter { $0.1 > 0 }
        page += "<p>" + HTMLPage.escape("\(run.stages.count) of \(graph.stages.count) stage(s) in this run: "
                                         + counts.map { "\($0.1) \($0.0 == "skipped" ? "not run (upstream failed)" : $0.0)" }.joined(separator: ", ")
                                         + "; \(run.stages.reduce(0) { $0 + $1.executed }) unit(s) executed in \(Self.duration(run.seconds)).") + "</p>\n"
        page += table(["", ""], rows: [("command", run.command), ("pipeline file", graph.file), ("workspace", workspace.root), ("started (UTC)", run.started),
                                       ("duration", Self.duration(run.seconds)),
                                       ("input files hashed", "\(run.filesHashed) (\(run.bytesHashed) bytes; 0 when the stat cache vouched for every file)")]
                      .map { [$0.0, $0.1] } + run.about.map { [$0.label, $0.text] }, header: false, class: "about")

        let pages = stagePages()
        if !pages.isEmpty {
            page += "<h2>Reports</h2>\n<ul>\n"
            for (stage, file) in pages { page += "<li><a href=\"\(HTMLPage.escape(HTMLPage.href(stage + "/" + file)))\">\(HTMLPage.escape(stage + "/" + file))</a></li>\n" }
            page += "</ul>\n"
        }

        page += "<h2>Stages</h2>\n<div>"
        let notes = Dictionary(run.stages.map { ($0.name, Self.note($0)) }, uniquingKeysWith: { $1 })
        page += GraphDrawing(graph: graph, states: stages.mapValues(\.state), notes: notes).draw().markup + "</div>\n"
        page += "<table><tr><th>stage</th><th>kind</th><th>outcome</th><th>units run</th><th>cached</th><th>failed</th><th>span</th><th>units' time</th><th>outputs</th></tr>\n"
        for stage in graph.stages {
            let logged = stages[stage.name]
            let state = logged?.state ?? "not requested"
            page += "<tr id=\"stage-\(HTMLPage.escape(stage.name))\"><td>\(HTMLPage.escape(stage.name))</td><td class=\"text\">\(HTMLPage.escape(stage.kind.name))</td>"
                + "<td class=\"state \(state.replacingOccurrences(of: " ", with: ""))\">\(HTMLPage.escape(state == "skipped" ? "not run: upstream failed" : state))</td>"
                + "<td>\(logged.map { String($0.executed) } ?? "")</td><td>\(logged.map { String($0.cached) } ?? "")</td><td>\(logged.map { String($0.failed) } ?? "")</td>"
                + "<td class=\"time\">\(logged.map { Self.duration($0.seconds) } ?? "")</td>"
                + "<td class=\"time\">\(logged.flatMap { $0.unitSeconds }.map(Self.duration) ?? "")</td><td class=\"text\">\(outputs(of: stage.name))</td></tr>\n"
        }
        page += "</table>\n"

        let failing = run.stages.filter { !$0.failures.isEmpty }
        if !failing.isEmpty {
            page += "<h2>Failures</h2>\n"
            for stage in failing {
                page += "<h3>\(HTMLPage.escape(stage.name))</h3>\n<ul class=\"failures\">\n"
                for failure in stage.failures { page += "<li>\(HTMLPage.escape(failure))</li>\n" }
                if stage.failed > stage.failures.count { page += "<li>… and \(stage.failed - stage.failures.count) more</li>\n" }
                page += "</ul>\n"
            }
        }

        if !earlier.isEmpty {
            page += "<h2>Earlier runs</h2>\n"
            page += table(["started (UTC)", "duration", "stages ran", "up to date", "failed", "units executed", "command"], rows: earlier.map { old in
                [old.started, Self.duration(old.seconds), String(old.stages.filter { $0.state == "ran" }.count),
                 String(old.stages.filter { $0.state == "up to date" }.count), String(old.stages.filter { $0.state == "failed" }.count),
                 String(old.stages.reduce(0) { $0 + $1.executed }), old.command]
            })
        }
        return page + "</body></html>\n"
    }

    /// Pages (`.html`) among whole stages' outputs, which the overview lists first.
    private func stagePages() -> [(String, String)] {
        graph.stages.flatMap { stage in
            (record.stages[stage.name]?.files?.keys.filter { $0.hasSuffix(".html") }.sorted() ?? []).map { (stage.name, $0) }
        }
    }

    /// Links to a stage's outputs as out/ shows them: a whole stage's files (a few, or its folder), a map stage's folder.
    private func outputs(of stage: String) -> String {
        guard let stored = record.stages[stage], access(workspace.out + "/" + graph.name + "/" + stage, F_OK) == 0 else { return "" }
        let folder = "<a href=\"\(HTMLPage.escape(HTMLPage.href(stage)))/\">\(HTMLPage.escape(stage))/</a>"
        if let items = stored.items { return folder + " (\(items.count) item\(items.count == 1 ? "" : "s"))" }
        let files = (stored.files?.keys.sorted() ?? []).filter { !$0.contains("/") }
        guard !files.isEmpty, files.count <= 12 else { return folder + " (\(stored.files?.count ?? 0) files)" }
        return files.map { "<a href=\"\(HTMLPage.escape(HTMLPage.href(stage + "/" + $0)))\">\(HTMLPage.escape($0))</a>" }.joined(separator: " ")
            + ((stored.files?.count ?? 0) > files.count ? " " + folder : "")
    }

    private func table(_ header: [String], rows: [[String]], header shown: Bool = true, class name: String? = nil) -> String {
        var html = "<table" + (name.map { " class=\"\($0)\"" } ?? "") + ">" + (shown ? "<tr>" + header.map { "<th>\(HTMLPage.escape($0))</th>" }.joined() + "</tr>" : "") + "\n"
        for row in rows { html += "<tr>" + row.map { "<td>\(HTMLPage.escape($0))</td>" }.joined() + "</tr>\n" }
        return html + "</table>\n"
    }

    static func note(_ stage: RunLog.Stage) -> String {
        var parts: [String] = []
        if stage.executed > 0 { parts.append("\(stage.executed) run") }
        if stage.cached > 0 { parts.append("\(stage.cached) cached") }
        if stage.failed > 0 { parts.append("\(stage.failed) failed") }
        let busy = stage.unitSeconds ?? stage.seconds  // the units' own time: a stage that waited for cores is not slow
        if busy >= 0.05 { parts.append(duration(busy)) }
        return parts.joined(separator: " · ")
    }

    static func duration(_ seconds: Double) -> String {
        if seconds < 60 { return String(format: "%.1f s", seconds) }
        let whole = Int(seconds.rounded())
        if whole < 3600 { return String(format: "%d min %02d s", whole / 60, whole % 60) }
        return String(format: "%d h %02d min", whole / 3600, whole % 3600 / 60)
    }
}
