import Foundation

/// How a run is to be done.
public struct RunOptions: Sendable {
    /// Units of work (items, whole stages) run at once.
    public var jobs: Int
    /// Run only these stages (or declarations' stages) and what they depend on; empty for all.
    public var until: [String]
    /// Stages to recompute whatever the cache says.
    public var force: Set<String>
    /// Wait for another run holding the workspace instead of exiting.
    public var wait: Bool
    /// Where units execute: this process's threads, or child processes that a crash costs only one unit.
    public var isolation: UnitIsolation
    /// Other machines' slots, which take units once this machine's `jobs` are busy; nil for this machine alone.
    public var remote: RemoteUnits?
    /// What the run's overview page says of the code and the machine beyond what the runner knows.
    public var about: [AboutLine] = []

    public init(jobs: Int = ProcessInfo.processInfo.activeProcessorCount, until: [String] = [], force: Set<String> = [], wait: Bool = false,
                isolation: UnitIsolation = .threads, remote: RemoteUnits? = nil) {
        self.remote = remote
        self.jobs = max(1, jobs)
        self.until = until
        self.force = force
        self.wait = wait
        self.isolation = isolation
    }
}

/// What happened to one stage in a run.
public struct StageReport: Sendable {
    public enum State: String, Sendable { case upToDate = "up to date", ran, failed, skipped }
    public var name: String
    public var state: State
    /// Units executed (items of a map stage; 1 or 0 for a whole stage).
    public var executed = 0
    public var cached = 0
    public var removed = 0
    public var failures: [String] = []
    /// From the stage's start to its end, waits for cores included.
    public var seconds = 0.0
    /// Its units' own time, summed.
    public var unitSeconds = 0.0
}

public struct RunSummary: Sendable {
    public var stages: [StageReport]
    /// Bytes of input files read to hash them: zero when the stat cache vouched for every file.
    public var bytesHashed: Int64
    public var filesHashed: Int

    public var failed: Bool { stages.contains { $0.state == .failed || $0.state == .skipped } }
    public var executed: Int { stages.reduce(0) { $0 + $1.executed } }
    public func stage(_ name: String) -> StageReport? { stages.first { $0.name == name } }
}

/// Why a stage is or is not up to date, for a status command.
public struct StageStatus: Sendable {
    public var name: String
    public var upToDate: Bool
    public var reasons: [String]
    public var items: Int?
    /// Likely mistakes that do not make the stage stale (a glob that matches nothing).
    public var warnings: [String] = []
}

/// Executes a pipeline graph in a workspace: plans each stage once its inputs are known, runs the stale
/// units on a pool of `jobs` threads, moves their outputs into the cache and records each finished unit at
/// once, so an interrupted run loses only the units in flight.
public final class Runner {
    public let workspace: Workspace
    public let graph: PipelineGraph
    /// The whole graph, before `--until`: the overview draws the stages a run left out too.
    private let fullGraph: PipelineGraph
    public let options: RunOptions
    public let progress: Progress
    private let store: ObjectStore
    private let statCache: StatCache
    private let hasher: FileHasher
    private var record: Background<RunRecord>
    private let damaged: Background<[Digest]>

    public init(workspace: Workspace, graph: PipelineGraph, options: RunOptions = RunOptions(), progress: Progress = Progress()) throws {
        self.workspace = workspace
        self.graph = options.until.isEmpty ? graph : try graph.upTo(options.until)
        fullGraph = graph
        for name in options.force where graph.stage(name) == nil {
            throw PipelineError(.unknownStage, "--force \(name): no such stage in \(graph.file)")
        }
        self.options = options
        self.progress = progress
        store = try ObjectStore(root: workspace.cache)
        CacheLayout.upgrade(workspace: workspace, store: store)
        // The two biggest files a status reads are parsed while it scans the inputs.
        statCache = StatCache(path: workspace.statCachePath)
        let (workspaceCopy, name) = (workspace, graph.name)
        record = Background { RunRecord.load(workspace: workspaceCopy, pipeline: name) }
        // Outputs written since they were stored (see `ObjectStore.damagedObjects`), or gone from the cache while out/
        // still links them, are found while the inputs are scanned.
        let (objects, threads, out) = (store, options.jobs, workspace.out)
        damaged = Background { ((try? objects.damagedObjects(threads: threads)) ?? []) + objects.missingObjects(linkedFrom: out).map(\.digest) }
        hasher = FileHasher(statCache: statCache, threads: options.jobs)
    }

    /// Refuses a pipeline file whose base name is another existing file's in this workspace: they would share
    /// out/NAME and the run record, and each run (or `gc`) would drop the other's outputs.
    private func checkOwner() throws {
        let mine = Self.resolved(graph.file)
        guard let owner = record.value.file, owner != mine, FileManager.default.fileExists(atPath: owner) else { return }
        throw PipelineError(.badField, "out/\(graph.name) and its run record in \(workspace.root) belong to \(owner), another pipeline file named "
                            + "\(graph.name); rename \(graph.file), or give it another --workspace")
    }

    static func resolved(_ file: String) -> String {
        let absolute = file.hasPrefix("/") ? file : FileManager.default.currentDirectoryPath + "/" + file
        return URL(fileURLWithPath: absolute).resolvingSymlinksInPath().path
    }

    /// Refuses, before anything is touched, a pipeline whose dependency paths are not in the workspace.
    private func checkPaths() throws {
        for stage in graph.stages {
            var paths = stage.deps.compactMap { dep -> String? in if case .path(let path) = dep { return path } else { return nil } }
            if case .files(let path, _)? = stage.map { paths.append(path) }
            for path in paths where access(workspace.absolute(path), F_OK) != 0 {
                throw PipelineError(.missingPath, "stage '\(stage.name)': dependency path '\(path)' does not exist in the workspace \(workspace.root)",
                                    at: stage.location)
            }
        }
    }

    /// What is stale and why, without running anything (and without taking the lock: a status may be asked
    /// while a run goes on). Stages below a stale one are reported as waiting on it.
    public func status() throws -> [StageStatus] {
        try checkPaths()
        try checkOwner()
        let planner = Planner(workspace: workspace, store: store, hasher: hasher, record: record)
        var outcomes: [String: StageOutcome] = [:]
        var result: [StageStatus] = []
        for stage in graph.stages {
            switch try planner.plan(stage, outcomes: outcomes, force: options.force.contains(stage.name)) {
            case .blocked(let upstream):
                result.append(StageStatus(name: stage.name, upToDate: false, reasons: ["waits on stale upstream " + upstream.map { "'\($0)'" }.joined(separator: ", ")]))
            case .planned(let plan):
                var itemCount: Int?
                if case .map(let items, _) = plan.work { itemCount = items.count }
                result.append(StageStatus(name: stage.name, upToDate: plan.isUpToDate, reasons: plan.reasons, items: itemCount, warnings: plan.warnings))
                if plan.isUpToDate, let outcome = cachedOutcome(plan) { outcomes[stage.name] = outcome }
            }
        }
        try? saveStatCacheIfUnlocked()
        let (_, units) = try Verifier.takeOut(Set(damaged.value), store: store, workspace: workspace, dryRun: true)
        for index in result.indices {
            let mine = units.filter { $0.pipeline == graph.name && $0.stage == result[index].name }
            guard !mine.isEmpty else { continue }
            result[index].upToDate = false
            let items = mine.compactMap { $0.item }
            result[index].reasons.append(items.isEmpty ? "its cached output changed or went missing on disk since it was stored; the next run recomputes it"
                : "\(items.count) item(s) whose cached output changed or went missing on disk since it was stored: \(items.prefix(3).joined(separator: ", "))"
                  + (items.count > 3 ? ", ..." : "") + "; the next run recomputes them")
        }
        return result
    }

    private func saveStatCacheIfUnlocked() throws {
        // Sparing the next command the re-reads is worth a save, but never under a running writer's feet.
        guard statCache.isDirty else { return }
        let lock = try WorkspaceLock(workspace: workspace, wait: .no)
        defer { lock.release() }
        try statCache.save()
    }

    private func cachedOutcome(_ plan: Planner.Plan) -> StageOutcome? {
        switch plan.work {
        case .whole(let cached?): return StageOutcome(stage: plan.stage.name, .whole(cached), store: store)
        case .whole(nil): return nil
        case .map(let items, _):
            let outcomes = items.compactMap(\.cached)
            return outcomes.count == items.count ? StageOutcome(stage: plan.stage.name, .items(outcomes), store: store) : nil
        }
    }

    /// Runs every stale unit of the graph. Takes the workspace lock for the whole run.
    public func run() throws -> RunSummary {
        let started = Date()
        try checkPaths()
        let lock = try WorkspaceLock(workspace: workspace, wait: options.wait ? .yes(notify: progress.message) : .no)
        defer { lock.release() }
        if let previous = lock.tookOverFrom {
            progress.message("note: took over the workspace lock from a run that ended without releasing it (\(previous))")
        }
        store.clearTemporary()
        let damaged = Set(self.damaged.value)
        if !damaged.isEmpty {
            let (_, units) = try Verifier.takeOut(damaged, store: store, workspace: workspace)
            progress.message("note: \(damaged.count) cached output file(s) changed or went missing on disk since they were stored; recomputing "
                             + units.map(\.description).joined(separator: "; "))
            record = Background(ready: RunRecord.load(workspace: workspace, pipeline: graph.name))
        }

        try checkOwner()
        var claimed = record.value
        claimed.file = Self.resolved(graph.file)
        let completion = StageCompletion(materializer: Materializer(workspace: workspace, store: store, pipeline: graph.name), progress: progress, record: claimed)
        let execution = RunExecution(self, planner: Planner(workspace: workspace, store: store, hasher: hasher, record: record), completion: completion)
        defer { record = Background(ready: completion.record) }
        try execution.run()
        if options.until.isEmpty { try completion.dropStages(notIn: Set(graph.stages.map(\.name))) }
        try statCache.save()
        let summary = RunSummary(stages: graph.stages.map { execution.reports[$0.name] ?? StageReport(name: $0.name, state: .skipped) },
                                 bytesHashed: hasher.bytesRead, filesHashed: hasher.filesRead)
        writeOverview(RunLog(pipeline: graph.name, command: WorkspaceLock.commandLine, started: started, seconds: Date().timeIntervalSince(started),
                             summary: summary, about: [AboutLine("machine", machineDescription())] + options.about), record: completion.record)
        return summary
    }

    /// Logs the run and writes its overview page; a failure to is said, and costs the run nothing else.
    private func writeOverview(_ log: RunLog, record: RunRecord) {
        do {
            let earlier = RunLog.history(workspace: workspace, pipeline: graph.name).reversed()
            try log.append(workspace: workspace)
            let page = try RunOverview(workspace: workspace, graph: fullGraph, run: log, earlier: Array(earlier), record: record).write()
            progress.message("overview: \(page)")
        } catch {
            progress.message("warning: the run's overview page was not written: \(error)")
        }
    }
}
