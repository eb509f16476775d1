import Foundation

/// One run of a graph, from the first stage started to the last one recorded: which stages wait, which are
/// active, what each produced. Stages start as soon as their upstream has an outcome; their units go to the
/// worker pool; each unit's result comes back as an event on this (the coordinating) thread, and a stage
/// whose last unit is back is completed by `StageCompletion`.
final class RunExecution {
    /// A unit's result: the stage it belongs to, the item's index (nil for a whole stage), and its cache entry.
    struct UnitResult {
        var stage: String
        var item: Int?
        var entry: Result<Entry, Error>
        /// How long the unit ran, from leaving the queue to its entry written.
        var seconds: Double
    }

    /// A started stage collecting its units' entries.
    final class ActiveStage {
        let plan: Planner.Plan
        var pending: Int
        var entries: [Int: Entry] = [:]
        var failures: [String] = []
        let started = Date()
        /// Its units' own time, summed (the stage's span also counts the time they waited for cores).
        var unitSeconds = 0.0

        init(plan: Planner.Plan, pending: Int) {
            self.plan = plan
            self.pending = pending
        }

        var name: String { plan.stage.name }

        /// How people name one of this stage's units in a failure message.
        func unitName(_ item: Int?) -> String {
            guard let item, case .map(let items, _) = plan.work else { return "" }
            return "item '\(items[item].id)': "
        }
    }

    private let options: RunOptions
    private let progress: Progress
    private let planner: Planner
    private let completion: StageCompletion
    private let pool: WorkerPool<UnitResult>
    private let executor: UnitExecutor
    private var store: ObjectStore { planner.store }

    private var waiting: [GraphStage]
    private var active: [String: ActiveStage] = [:]
    private(set) var outcomes: [String: StageOutcome] = [:]
    private(set) var reports: [String: StageReport] = [:]

    /// `planner` decides what each stage must run; `completion` records each finished stage.
    init(_ runner: Runner, planner: Planner, completion: StageCompletion) {
        options = runner.options
        progress = runner.progress
        self.planner = planner
        self.completion = completion
        pool = WorkerPool(threads: runner.options.jobs + (runner.options.remote?.slots ?? 0))
        executor = UnitExecutor(runner.options.isolation, jobs: runner.options.jobs, remote: runner.options.remote)
        waiting = runner.graph.stages
    }

    deinit {
        pool.shutdown()
        executor.close()
    }

    /// Runs until every stage has finished, failed or been skipped.
    func run() throws {
        while true {
            if try startNextReadyStage() { continue }
            if active.isEmpty { break }
            guard let result = pool.next(timeout: 0.5) else {
                progress.tick()
                continue
            }
            try receive(result)
        }
        progress.finish()
    }

    /// Starts (or skips) the first waiting stage whose upstream is settled; false when none is.
    private func startNextReadyStage() throws -> Bool {
        for stage in waiting {
            if let broken = stage.upstream.first(where: { reports[$0]?.state == .failed || reports[$0]?.state == .skipped }) {
                reports[stage.name] = StageReport(name: stage.name, state: .skipped, failures: ["not run: upstream '\(broken)' did not finish"])
                progress.message("\(stage.name): skipped, upstream '\(broken)' did not finish")
            } else if stage.upstream.allSatisfy({ outcomes[$0] != nil }) {
                do {
                    try start(stage)
                } catch let error as PipelineError where error.code != .io {
                    reports[stage.name] = StageReport(name: stage.name, state: .failed, failures: [error.description])
                    progress.stageEnded(stage.name, summary: "FAILED\n  " + error.description)
                }
            } else {
                continue
            }
            waiting.removeAll { $0.name == stage.name }
            return true
        }
        return false
    }

    /// Plans a stage whose upstream is done and submits its stale units; completes it at once when none is stale.
    private func start(_ stage: GraphStage) throws {
        guard case .planned(let plan) = try planner.plan(stage, outcomes: outcomes, force: options.force.contains(stage.name)) else {
            preconditionFailure("stage \(stage.name) started before its upstream finished")
        }
        for warning in plan.warnings { progress.message("warning: " + warning) }
        let inputs = try plan.deps.map { try $0.input() }
        let unit = UnitRequest(stage: stage.name, kind: stage.kind.name, params: stage.params.values, inputs: inputs, item: nil,
                               outputDirectory: "", workspace: planner.workspace.root, resumeDirectory: "",
                               limits: stage.limits)
        let (executor, kind) = (self.executor, stage.kind)
        let cores = kind.cores.count(stage.params, machine: options.jobs)
        let activeStage: ActiveStage
        switch plan.work {
        case .whole(let cached):
            activeStage = ActiveStage(plan: plan, pending: cached == nil ? 1 : 0)
            if cached == nil {
                progress.stageStarted(stage.name, toRun: 1, cached: 0)
                submit(stage: stage.name, item: nil, key: plan.base, cores: cores) { directory, resume in
                    var request = unit
                    request.outputDirectory = directory
                    request.resumeDirectory = resume
                    try executor.run(request, kind: kind)
                }
            }
        case .map(let items, _):
            let toRun = items.indices.filter { items[$0].cached == nil }
            activeStage = ActiveStage(plan: plan, pending: toRun.count)
            if !toRun.isEmpty { progress.stageStarted(stage.name, toRun: toRun.count, cached: items.count - toRun.count) }
            for index in toRun {
                let item = items[index]
                submit(stage: stage.name, item: index, key: item.key, cores: cores) { directory, resume in
                    var request = unit
                    request.outputDirectory = directory
                    request.resumeDirectory = resume
                    request.item = UnitRequest.Item(id: item.id, files: try item.files(), members: try item.members?())
                    try executor.run(request, kind: kind)
                }
            }
        }
        if activeStage.pending == 0 {
            try complete(activeStage)
        } else {
            active[stage.name] = activeStage
        }
    }

    /// Queues one unit: it works in a fresh folder, which is moved into the cache and recorded under `key`; its resume
    /// folder (kept between attempts with this key) goes once the record is written. `cores`: how many it keeps busy.
    private func submit(stage: String, item: Int?, key: Digest, cores: Int, work: @escaping (String, String) throws -> Void) {
        let store = self.store
        pool.submit(first: item == nil, cores: cores) {
            let started = Date()
            var result = UnitResult(stage: stage, item: item, entry: Result {
                let directory = try store.makeWorkDirectory()
                let resume = store.resumeDirectory(key)
                do {
                    try work(directory, resume)
                } catch {
                    try? FileManager.default.removeItem(atPath: directory)
                    throw error
                }
                let entry = try store.ingest(directory: directory)
                try store.writeEntry(entry, key: key)
                try? FileManager.default.removeItem(atPath: resume)
                return entry
            }, seconds: 0)
            result.seconds = Date().timeIntervalSince(started)
            return result
        }
    }

    private func receive(_ result: UnitResult) throws {
        guard let stage = active[result.stage] else { preconditionFailure("a unit of stage \(result.stage), which is not active") }
        stage.pending -= 1
        stage.unitSeconds += result.seconds
        switch result.entry {
        case .success(let entry): stage.entries[result.item ?? 0] = entry
        case .failure(let error): stage.failures.append(stage.unitName(result.item) + (fileErrorMessage(error) ?? "\(error)"))
        }
        progress.itemFinished(stage.name)
        if stage.pending == 0 {
            active.removeValue(forKey: stage.name)
            try complete(stage)
        }
    }

    private func complete(_ stage: ActiveStage) throws {
        let (report, outcome) = try completion.complete(stage)
        reports[stage.name] = report
        if let outcome { outcomes[stage.name] = outcome }
    }
}

/// What happens when a stage's last unit is back: a failed stage is reported (its finished units stay in
/// the cache for the next run); a finished one has its outcome assembled, its folder under `out/` updated,
/// and its record saved.
final class StageCompletion {
    private let materializer: Materializer
    private let progress: Progress
    private(set) var record: RunRecord
    private var store: ObjectStore { materializer.store }
    private var workspace: Workspace { materializer.workspace }

    init(materializer: Materializer, progress: Progress, record: RunRecord) {
        self.materializer = materializer
        self.progress = progress
        self.record = record
    }

    func complete(_ stage: RunExecution.ActiveStage) throws -> (StageReport, StageOutcome?) {
        let seconds = Date().timeIntervalSince(stage.started)
        guard stage.failures.isEmpty else {
            var report = StageReport(name: stage.name, state: .failed, failures: stage.failures, seconds: seconds, unitSeconds: stage.unitSeconds)
            report.executed = stage.entries.count
            progress.stageEnded(stage.name, summary: "\(stage.failures.count) failed, \(stage.entries.count) done (kept in the cache for the next run)\n"
                                + stage.failures.prefix(20).map { "  " + $0 }.joined(separator: "\n"))
            return (report, nil)
        }
        let plan = stage.plan
        var report = StageReport(name: stage.name, state: plan.isUpToDate ? .upToDate : .ran, seconds: seconds, unitSeconds: stage.unitSeconds)
        let outcome = assemble(stage, report: &report)
        let previous = record.stages[stage.name]
        try materializer.update(stage: stage.name, previous: previous, outcome: outcome)
        if previous == nil || !plan.isUpToDate || previous?.output != outcome.output || previous?.base != plan.base {
            record.stages[stage.name] = stageRecord(plan, outcome: outcome)
            try record.save(workspace: workspace)
        }
        announce(report)
        return (report, outcome)
    }

    /// The stage's outcome from its cached and freshly run units, counting each kind in `report`.
    private func assemble(_ stage: RunExecution.ActiveStage, report: inout StageReport) -> StageOutcome {
        switch stage.plan.work {
        case .whole(let cached?):
            report.cached = 1
            return StageOutcome(stage: stage.name, .whole(cached), store: store)
        case .whole(nil):
            guard let entry = stage.entries[0] else { preconditionFailure("stage \(stage.name) finished without its output") }
            report.executed = 1
            return StageOutcome(stage: stage.name, .whole(entry.files), store: store)
        case .map(let items, let removed):
            let results = items.enumerated().map { index, item -> ItemOutcome in
                if let cached = item.cached { return cached }
                guard let entry = stage.entries[index] else { preconditionFailure("item \(item.id) of \(stage.name) finished without its output") }
                return ItemOutcome(id: item.id, input: item.input, base: item.base, output: entry.digest, entry: entry)
            }
            report.executed = stage.entries.count
            report.cached = items.count - stage.entries.count
            report.removed = removed.count
            return StageOutcome(stage: stage.name, .items(results), store: store)
        }
    }

    private func stageRecord(_ plan: Planner.Plan, outcome: StageOutcome) -> StageRecord {
        var files: [String: FileEntry]?, items: [ItemRecord]?
        switch outcome.produced {
        case .whole(let produced): files = produced
        case .items(let produced): items = produced.map { ItemRecord(id: $0.id, input: $0.input, output: $0.output) }
        }
        return StageRecord(
            kind: plan.stage.kind.name, kindVersion: plan.stage.kind.version,
            params: plan.stage.params.keyed.mapValues(\.canonicalJSON),
            deps: Dictionary(plan.deps.map { ($0.dependency.label, $0.digest) }, uniquingKeysWith: { $1 }),
            map: plan.stage.map?.label, base: plan.base, output: outcome.output, files: files, items: items,
            finished: ISO8601DateFormatter().string(from: Date()))
    }

    private func announce(_ report: StageReport) {
        guard report.executed > 0 || report.removed > 0 else {
            progress.message("\(report.name): up to date")
            return
        }
        var summary = "done, \(report.executed) run"
        if report.cached > 0 { summary += ", \(report.cached) cached" }
        if report.removed > 0 { summary += ", \(report.removed) removed" }
        progress.stageEnded(report.name, summary: summary + " in " + Progress.duration(report.seconds))
    }

    /// Forgets stages the pipeline no longer declares, and their folders under `out/`.
    func dropStages(notIn names: Set<String>) throws {
        let dropped = record.stages.keys.filter { !names.contains($0) }
        guard !dropped.isEmpty else { return }
        for name in dropped {
            record.stages.removeValue(forKey: name)
            materializer.remove(stage: name)
        }
        try record.save(workspace: workspace)
    }
}
