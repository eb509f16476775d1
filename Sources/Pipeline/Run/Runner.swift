import Foundation

/// How a run is to be done.
public struct RunOptions: Sendable {
    /// Units of work (items, whole stages) run at once.
    public var jobs: Int
    /// Run only this stage and what it depends on.
    public var until: String?
    /// Stages to recompute whatever the cache says.
    public var force: Set<String>
    /// Wait for another run holding the workspace instead of exiting.
    public var wait: Bool

    public init(jobs: Int = ProcessInfo.processInfo.activeProcessorCount, until: String? = nil, force: Set<String> = [], wait: Bool = false) {
        self.jobs = max(1, jobs)
        self.until = until
        self.force = force
        self.wait = wait
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
    public var seconds = 0.0
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

/// Why a stage is or is not up to date, for `emotion status`.
public struct StageStatus: Sendable {
    public var name: String
    public var upToDate: Bool
    public var reasons: [String]
    public var items: Int?
}

/// Executes a pipeline graph in a workspace: plans each stage once its inputs are known, runs the stale
/// units on a pool of `jobs` threads, moves their outputs into the cache and records each finished unit at
/// once, so an interrupted run loses only the units in flight.
public final class Runner {
    public let workspace: Workspace
    public let graph: PipelineGraph
    public let options: RunOptions
    public let progress: Progress
    private let store: ObjectStore
    private let statCache: StatCache
    private let hasher: FileHasher
    private var record: RunRecord

    public init(workspace: Workspace, graph: PipelineGraph, options: RunOptions = RunOptions(), progress: Progress = Progress()) throws {
        self.workspace = workspace
        self.graph = try options.until.map { try graph.upTo($0) } ?? graph
        for name in options.force where graph.stage(name) == nil {
            throw PipelineError(.unknownStage, "--force \(name): no such stage in \(graph.file)")
        }
        self.options = options
        self.progress = progress
        store = try ObjectStore(root: workspace.cache)
        // The two biggest files a status reads, read side by side.
        final class Loaded: @unchecked Sendable { var cache: StatCache? }
        let loaded = Loaded()
        let reading = DispatchGroup()
        let statCachePath = workspace.statCachePath
        DispatchQueue.global().async(group: reading) { loaded.cache = StatCache(path: statCachePath) }
        record = try RunRecord.load(workspace: workspace, pipeline: graph.name)
        reading.wait()
        statCache = loaded.cache!
        hasher = FileHasher(statCache: statCache, threads: options.jobs)
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
                result.append(StageStatus(name: stage.name, upToDate: plan.isUpToDate, reasons: plan.reasons, items: itemCount))
                if plan.isUpToDate, let outcome = cachedOutcome(plan) { outcomes[stage.name] = outcome }
            }
        }
        try? saveStatCacheIfUnlocked()
        return result
    }

    private func saveStatCacheIfUnlocked() throws {
        // Sparing the next command the re-reads is worth a save, but never under a running writer's feet.
        let lock = try WorkspaceLock(workspace: workspace, command: "emotion status", wait: .no)
        defer { lock.release() }
        try statCache.save()
    }

    private func cachedOutcome(_ plan: Planner.Plan) -> StageOutcome? {
        switch plan.work {
        case .whole(let cached?): return StageOutcome(stage: plan.stage.name, whole: cached, store: store)
        case .whole(nil): return nil
        case .map(let items, _):
            let outcomes = items.compactMap(\.cached)
            return outcomes.count == items.count ? StageOutcome(stage: plan.stage.name, items: outcomes, store: store) : nil
        }
    }

    private enum Event {
        case finished(stage: String, item: Int?, Result<Entry, Error>)
    }

    private final class ActiveStage {
        let plan: Planner.Plan
        var pending: Int
        var entries: [Int: Entry] = [:]
        var failures: [String] = []
        let started = Date()
        init(plan: Planner.Plan, pending: Int) {
            self.plan = plan
            self.pending = pending
        }
    }

    /// Runs every stale unit of the graph. Takes the workspace lock for the whole run.
    public func run(command: String = "emotion run") throws -> RunSummary {
        try checkPaths()
        let lock = try WorkspaceLock(workspace: workspace, command: command, wait: options.wait ? .yes(notify: progress.message) : .no)
        defer { lock.release() }
        if let previous = lock.tookOverFrom {
            progress.message("note: took over the workspace lock from a run that ended without releasing it (\(previous))")
        }
        store.clearTemporary()

        let planner = Planner(workspace: workspace, store: store, hasher: hasher, record: record)
        let pool = WorkerPool<Event>(threads: options.jobs)
        defer { pool.shutdown() }
        let materializer = Materializer(workspace: workspace, store: store, pipeline: graph.name)

        var outcomes: [String: StageOutcome] = [:]
        var reports: [String: StageReport] = [:]
        var waiting = graph.stages
        var active: [String: ActiveStage] = [:]

        func fail(_ stage: String, _ messages: [String], seconds: Double = 0) {
            reports[stage] = StageReport(name: stage, state: .failed, failures: messages, seconds: seconds)
            progress.stageEnded(stage, summary: "FAILED\n" + messages.map { "  " + $0 }.joined(separator: "\n"))
        }

        func finalize(_ stage: ActiveStage) throws {
            let plan = stage.plan
            let name = plan.stage.name
            let seconds = Date().timeIntervalSince(stage.started)
            if !stage.failures.isEmpty {
                var report = StageReport(name: name, state: .failed, failures: stage.failures, seconds: seconds)
                report.executed = stage.entries.count
                reports[name] = report
                progress.stageEnded(name, summary: "\(stage.failures.count) failed, \(stage.entries.count) done (kept in the cache for the next run)\n"
                                    + stage.failures.prefix(20).map { "  " + $0 }.joined(separator: "\n"))
                return
            }
            var report = StageReport(name: name, state: plan.isUpToDate ? .upToDate : .ran, seconds: seconds)
            let outcome: StageOutcome
            var stageRecord = StageRecord(
                kind: plan.stage.kind.name, kindVersion: plan.stage.kind.version,
                params: plan.stage.params.values.mapValues(\.canonicalJSON),
                deps: Dictionary(plan.deps.map { ($0.dependency.label, $0.digest) }, uniquingKeysWith: { $1 }),
                map: plan.stage.map?.label, base: plan.base, output: plan.base, files: nil, items: nil,
                finished: ISO8601DateFormatter().string(from: Date()))
            switch plan.work {
            case .whole(let cached):
                let files = cached ?? stage.entries[0]!.files
                outcome = StageOutcome(stage: name, whole: files, store: store)
                stageRecord.files = files
                report.executed = cached == nil ? 1 : 0
                report.cached = cached == nil ? 0 : 1
            case .map(let items, let removed):
                let results = items.enumerated().map { index, item -> ItemOutcome in
                    if let cached = item.cached { return cached }
                    let entry = stage.entries[index]!
                    return ItemOutcome(id: item.id, input: item.input, key: item.key, output: entry.digest, entry: entry)
                }
                outcome = StageOutcome(stage: name, items: results, store: store)
                stageRecord.items = results.map { ItemRecord(id: $0.id, input: $0.input, output: $0.output) }
                report.executed = stage.entries.count
                report.cached = items.count - stage.entries.count
                report.removed = removed.count
            }
            stageRecord.output = outcome.output
            let previous = record.stages[name]
            try materializer.update(stage: name, previous: previous, outcome: outcome)
            if previous == nil || !plan.isUpToDate || previous?.output != outcome.output || previous?.base != plan.base {
                record.stages[name] = stageRecord
                try record.save(workspace: workspace)
            }
            outcomes[name] = outcome
            reports[name] = report
            if report.executed > 0 || report.removed > 0 {
                var summary = "done, \(report.executed) run"
                if report.cached > 0 { summary += ", \(report.cached) cached" }
                if report.removed > 0 { summary += ", \(report.removed) removed" }
                progress.stageEnded(name, summary: summary + " in " + Progress.duration(seconds))
            } else {
                progress.message("\(name): up to date")
            }
        }

        func start(_ stage: GraphStage) throws {
            guard case .planned(let plan) = try planner.plan(stage, outcomes: outcomes, force: options.force.contains(stage.name)) else {
                preconditionFailure("stage \(stage.name) started before its upstream finished")
            }
            let inputs = try plan.deps.map { try $0.input() }
            switch plan.work {
            case .whole(let cached):
                let activeStage = ActiveStage(plan: plan, pending: cached == nil ? 1 : 0)
                active[stage.name] = activeStage
                if cached == nil {
                    progress.stageStarted(stage.name, toRun: 1, cached: 0)
                    guard case .whole(let body) = stage.kind.body else { preconditionFailure() }
                    submit(stage: stage.name, item: nil, key: plan.base) { directory in
                        try body(StageContext(stage: stage.name, params: stage.params, inputs: inputs, outputDirectory: directory, workspace: self.workspace.root))
                    }
                }
            case .map(let items, _):
                let toRun = items.indices.filter { items[$0].cached == nil }
                let activeStage = ActiveStage(plan: plan, pending: toRun.count)
                active[stage.name] = activeStage
                if !toRun.isEmpty {
                    progress.stageStarted(stage.name, toRun: toRun.count, cached: items.count - toRun.count)
                    guard case .map(let body) = stage.kind.body else { preconditionFailure() }
                    for index in toRun {
                        let item = items[index]
                        submit(stage: stage.name, item: index, key: item.key) { directory in
                            try body(ItemContext(id: item.id, files: try item.files(), stage: stage.name, params: stage.params,
                                                 inputs: inputs, outputDirectory: directory, workspace: self.workspace.root))
                        }
                    }
                }
            }
            if active[stage.name]!.pending == 0 {
                try finalize(active.removeValue(forKey: stage.name)!)
            }
        }

        func submit(stage: String, item: Int?, key: Digest, work: @escaping (String) throws -> Void) {
            let store = self.store
            pool.submit(first: item == nil) {
                do {
                    let directory = try store.makeWorkDirectory()
                    do {
                        try work(directory)
                    } catch {
                        try? FileManager.default.removeItem(atPath: directory)
                        throw error
                    }
                    let entry = try store.ingest(directory: directory)
                    try store.writeEntry(entry, key: key)
                    return .finished(stage: stage, item: item, .success(entry))
                } catch {
                    return .finished(stage: stage, item: item, .failure(error))
                }
            }
        }

        while true {
            var startedAny = false
            for stage in waiting {
                let upstream = stage.upstream
                if let broken = upstream.first(where: { reports[$0]?.state == .failed || reports[$0]?.state == .skipped }) {
                    reports[stage.name] = StageReport(name: stage.name, state: .skipped, failures: ["not run: upstream '\(broken)' did not finish"])
                    progress.message("\(stage.name): skipped, upstream '\(broken)' did not finish")
                } else if upstream.allSatisfy({ outcomes[$0] != nil }) {
                    do { try start(stage) } catch let error as PipelineError where error.code != .io {
                        fail(stage.name, [error.description])
                    }
                } else {
                    continue
                }
                waiting.removeAll { $0.name == stage.name }
                startedAny = true
                break
            }
            if startedAny { continue }
            if active.isEmpty { break }
            guard case .finished(let name, let item, let result)? = pool.next(timeout: 0.5) else {
                progress.tick()
                continue
            }
            let stage = active[name]!
            stage.pending -= 1
            switch result {
            case .success(let entry):
                stage.entries[item ?? 0] = entry
                progress.itemFinished(name)
            case .failure(let error):
                let itemName: String
                if let item, case .map(let items, _) = stage.plan.work { itemName = "item '\(items[item].id)': " } else { itemName = "" }
                stage.failures.append(itemName + "\(error)")
                progress.itemFinished(name)
            }
            if stage.pending == 0 {
                active.removeValue(forKey: name)
                try finalize(stage)
            }
        }
        progress.finish()

        if options.until == nil {
            let names = Set(graph.stages.map(\.name))
            let dropped = record.stages.keys.filter { !names.contains($0) }
            if !dropped.isEmpty {
                for name in dropped { record.stages.removeValue(forKey: name); materializer.remove(stage: name) }
                try record.save(workspace: workspace)
            }
        }
        try statCache.save()
        return RunSummary(stages: graph.stages.map { reports[$0.name] ?? StageReport(name: $0.name, state: .skipped) },
                          bytesHashed: hasher.bytesRead, filesHashed: hasher.filesRead)
    }
}
