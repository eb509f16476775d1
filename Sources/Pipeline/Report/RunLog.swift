import Foundation

/// A line of the run's context that the caller knows and the runner does not (the code's version, the CPU's features).
public struct AboutLine: Codable, Sendable, Equatable {
    public var label: String
    public var text: String

    public init(_ label: String, _ text: String) {
        self.label = label
        self.text = text
    }
}

/// One run of a pipeline as its overview page shows it: when, how long, by which command, and each stage's outcome.
/// Kept per pipeline in `cache/runs/PIPELINE.history.jsonl`, one line per run, the latest last, so that `emotion
/// report` can draw the last run again and the page can list the earlier ones.
public struct RunLog: Codable, Sendable {
    public struct Stage: Codable, Sendable {
        public var name: String
        /// `ran`, `up to date`, `failed`, `skipped` (an upstream stage failed).
        public var state: String
        public var executed: Int
        public var cached: Int
        public var failed: Int
        /// From the stage's start to its end, waits for cores included.
        public var seconds: Double
        /// Its units' own time, summed; nil in runs logged before it was.
        public var unitSeconds: Double?
        /// The first failures' reasons (a run with thousands keeps the first `keptFailures`).
        public var failures: [String]
    }

    public var pipeline: String
    public var command: String
    /// ISO 8601, UTC.
    public var started: String
    public var seconds: Double
    public var stages: [Stage]
    public var about: [AboutLine]
    public var filesHashed: Int
    public var bytesHashed: Int64

    static let keptFailures = 50
    static let keptRuns = 100

    init(pipeline: String, command: String, started: Date, seconds: Double, summary: RunSummary, about: [AboutLine]) {
        self.pipeline = pipeline
        self.command = command
        self.started = ISO8601DateFormatter().string(from: started)
        self.seconds = seconds
        self.about = about
        filesHashed = summary.filesHashed
        bytesHashed = summary.bytesHashed
        stages = summary.stages.map { report in
            let failedUnits = report.state == .skipped ? 0 : report.failures.count
            return Stage(name: report.name, state: report.state.rawValue, executed: report.executed, cached: report.cached, failed: failedUnits,
                         seconds: report.seconds, unitSeconds: report.unitSeconds, failures: Array(report.failures.prefix(Self.keptFailures)))
        }
    }

    static func path(workspace: Workspace, pipeline: String) -> String { workspace.runs + "/" + pipeline + ".history.jsonl" }

    /// Every run of `pipeline` logged in the workspace, oldest first; a line that cannot be read (cut by a crash) is
    /// passed over.
    public static func history(workspace: Workspace, pipeline: String) -> [RunLog] {
        guard let data = FileManager.default.contents(atPath: path(workspace: workspace, pipeline: pipeline)) else { return [] }
        return data.split(separator: 0x0A).compactMap { try? JSONDecoder().decode(RunLog.self, from: Data($0)) }
    }

    /// Adds this run to the history (rewritten whole and renamed into place, the oldest dropped past `keptRuns`).
    func append(workspace: Workspace) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let kept = Self.history(workspace: workspace, pipeline: pipeline).suffix(Self.keptRuns - 1) + [self]
        var text = Data()
        for run in kept { text += try encoder.encode(run) + Data([0x0A]) }
        try AtomicFile.write(text, to: Self.path(workspace: workspace, pipeline: pipeline))
    }
}

/// Facts about this machine that bear on a run's time: cores, memory and the processor's name.
public func machineDescription() -> String {
    let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
    let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }?.split(separator: ":", maxSplits: 1).last
        .map { $0.trimmingCharacters(in: .whitespaces) }
    let gib = Double(ProcessInfo.processInfo.physicalMemory) / Double(1 << 30)
    return "\(ProcessInfo.processInfo.activeProcessorCount) cores" + (model.map { ", " + $0 } ?? "") + String(format: ", %.0f GiB", gib)
}
