import Foundation

/// Decides, for one stage, what is up to date and what must run, and says why: it computes every key
/// from the kind, its version, the canonical params and the content digests of the inputs, and compares
/// them with the last run's record. `status` shows its answer; `run` executes it.
final class Planner {
    struct ResolvedDep {
        var dependency: Dependency
        var digest: Digest
        var input: () throws -> StageInput
    }

    struct PlannedItem {
        var id: String
        var input: Digest
        /// The stage's key, from which the item's own is derived.
        var base: Digest
        var files: () throws -> [InputFile]
        /// A bucket's items.
        var members: (() throws -> [ItemMember])?
        /// Set when the item need not run: from the record, or an entry a killed run left behind.
        var cached: ItemOutcome?
        /// Why it must run, when it must.
        var reason: String?

        /// Computed when asked: a status of 13 708 up-to-date items needs none of their keys.
        var key: Digest { Planner.itemKey(base: base, id: id, input: input) }
    }

    enum Work {
        case whole(cached: [String: FileEntry]?)
        case map(items: [PlannedItem], removed: [String])
    }

    struct Plan {
        var stage: GraphStage
        var base: Digest
        var deps: [ResolvedDep]
        var work: Work
        /// Why the stage (or some of its items) must run; empty when it is up to date.
        var reasons: [String]
        /// What is likely a mistake though nothing is wrong to run: a glob that matches no file.
        var warnings: [String] = []

        var isUpToDate: Bool { reasons.isEmpty }
    }

    enum Result {
        case blocked(upstream: [String])
        case planned(Plan)
    }

    let workspace: Workspace
    let store: ObjectStore
    let hasher: FileHasher
    private let loadedRecord: Background<RunRecord>
    var record: RunRecord { loadedRecord.value }
    private var pathInputs: [String: (files: [InputFile], digest: Digest)] = [:]
    /// What a path's scan passed over, said once per stage that reads the path.
    private var pathWarnings: [String: String] = [:]

    init(workspace: Workspace, store: ObjectStore, hasher: FileHasher, record: Background<RunRecord>) {
        self.workspace = workspace
        self.store = store
        self.hasher = hasher
        loadedRecord = record
    }

    /// The files under a workspace path with their digests, hashed once per planner.
    func pathInput(_ path: String, stage: String) throws -> (files: [InputFile], digest: Digest) {
        if let known = pathInputs[path] { return known }
        let scanned: [ScannedFile]
        var skipped: [String] = []
        do {
            scanned = try FileScanner.scan(workspace.absolute(path), skipped: &skipped)
        } catch let error as PipelineError where error.code == .missingPath {
            throw PipelineError(.missingPath, "stage '\(stage)': dependency path '\(path)' does not exist in the workspace \(workspace.root)")
        }
        let digests = try hasher.digests(of: scanned)
        let files = zip(scanned, digests).map { InputFile(path: $0.relative, location: $0.absolute, digest: $1) }
        let result = (files, Digest.tree(files.map { (path: $0.path, digest: $0.digest) }))
        pathInputs[path] = result
        if !skipped.isEmpty {
            pathWarnings[path] = "under '\(path)', \(skipped.count) name(s) passed over: " + skipped.prefix(3).joined(separator: "; ") + (skipped.count > 3 ? "; ..." : "")
        }
        return result
    }

    /// The stage's units and which of them must run: the whole stage, or each item (or bucket) of its map.
    func plan(_ stage: GraphStage, outcomes: [String: StageOutcome], force: Bool) throws -> Result {
        let missing = stage.upstream.filter { outcomes[$0] == nil }
        if !missing.isEmpty { return .blocked(upstream: missing) }
        let deps = try resolve(stage, outcomes: outcomes)
        let base = Planner.stageKey(stage, deps: deps)
        let previous = record.stages[stage.name]
        let stageReasons = force ? ["forced with --force"] : reasons(stage, deps: deps, previous: previous, base: base)
        var paths = stage.deps.compactMap { dependency -> String? in if case .path(let path) = dependency { return path } else { return nil } }
        guard let map = stage.map else {
            var plan = planWhole(stage, deps: deps, base: base, previous: previous, stageReasons: stageReasons, force: force)
            plan.warnings = paths.compactMap { pathWarnings[$0].map { "stage '\(stage.name)': " + $0 } }
            return .planned(plan)
        }
        let sources = try self.sources(stage, map: map, outcomes: outcomes)
        var plan = planItems(stage, sources, deps: deps, base: base, previous: previous, stageReasons: stageReasons, force: force)
        if case .files(let path, _) = map, !paths.contains(path) { paths.append(path) }
        plan.warnings = paths.compactMap { pathWarnings[$0].map { "stage '\(stage.name)': " + $0 } }
        if sources.isEmpty { plan.warnings.append(emptyMapWarning(stage, map: map)) }
        return .planned(plan)
    }

    /// Each dependency with its content digest and, when the stage runs, its files.
    private func resolve(_ stage: GraphStage, outcomes: [String: StageOutcome]) throws -> [ResolvedDep] {
        try stage.deps.map { dependency in
            switch dependency {
            case .stage(let name):
                let outcome = outcomes[name]!
                return ResolvedDep(dependency: dependency, digest: outcome.output, input: { StageInput(name: name, files: try outcome.inputFiles()) })
            case .path(let path):
                let (files, digest) = try pathInput(path, stage: stage.name)
                return ResolvedDep(dependency: dependency, digest: digest, input: { StageInput(name: path, files: files) })
            }
        }
    }

    /// The stage's key: its kind and version, its keyed params, its dependencies' digests, what it maps over and joins.
    private static func stageKey(_ stage: GraphStage, deps: [ResolvedDep]) -> Digest {
        var builder = KeyBuilder()
        builder.add("kind", stage.kind.name)
        builder.add("version", String(stage.kind.version))
        builder.add("params", stage.params.canonicalJSON)
        for dep in deps { builder.add(dep.dependency.label, dep.digest) }
        if let map = stage.map { builder.add("map", map.label) }
        // A join's stage enters each item's key, not the stage's: one changed item of it reruns one item here.
        for join in stage.join { builder.add("join", join.label) }
        return builder.finish()
    }

    /// A whole stage: up to date when the record or an entry in the cache has its key.
    private func planWhole(_ stage: GraphStage, deps: [ResolvedDep], base: Digest, previous: StageRecord?, stageReasons: [String],
                           force: Bool) -> Plan {
        var cached: [String: FileEntry]?
        if !force {
            if let previous, previous.base == base, let files = previous.files { cached = files }
            else if let entry = store.readEntry(base) { cached = entry.files }
        }
        let reasons = cached != nil ? [] : (stageReasons.isEmpty ? ["its cached output is missing"] : stageReasons)
        return Plan(stage: stage, base: base, deps: deps, work: .whole(cached: cached), reasons: reasons)
    }

    /// The items (or buckets of items) a map stage runs over, with their joins.
    private func sources(_ stage: GraphStage, map: MapSource, outcomes: [String: StageOutcome]) throws -> [Source] {
        var sources: [Source]
        switch map {
        case .stage(let name, nil):
            sources = outcomes[name]!.mapItems().map { Source(id: $0.id, input: $0.input, files: $0.files) }
        case .stage(let name, let glob?):
            sources = Planner.fileItems(try outcomes[name]!.inputFiles(), glob: glob)
        case .files(let path, let glob):
            sources = Planner.fileItems(try pathInput(path, stage: stage.name).files, glob: glob)
        }
        if !stage.join.isEmpty { sources = try Planner.joined(sources, stage.join, outcomes: outcomes) }
        if let count = stage.buckets { sources = Planner.bucketed(sources, count: count) }
        return sources
    }

    private func emptyMapWarning(_ stage: GraphStage, map: MapSource) -> String {
        switch map {
        case .files(let path, let glob): return "stage '\(stage.name)': no file under '\(path)' matches '\(glob)', so it has no items"
        case .stage(let name, let glob?): return "stage '\(stage.name)': no file of stage '\(name)' matches '\(glob)', so it has no items"
        case .stage(let name, nil): return "stage '\(stage.name)': stage '\(name)' has no items, so neither has this one"
        }
    }

    /// Each item: cached when the record has it with the same input or the cache has its key (an interrupted run's),
    /// else to run with its reason; the items the last run had and this one lacks are removed.
    private func planItems(_ stage: GraphStage, _ sources: [Source], deps: [ResolvedDep], base: Digest, previous: StageRecord?,
                           stageReasons: [String], force: Bool) -> Plan {
        var recorded = RecordedItems(previous?.base == base && !force ? previous?.items ?? [] : [])
        var items: [PlannedItem] = []
        items.reserveCapacity(sources.count)
        var changed: [String] = [], added: [String] = [], resumed = 0
        for (index, source) in sources.enumerated() {
            var item = PlannedItem(id: source.id, input: source.input, base: base, files: source.files, members: source.members)
            let old = recorded.item(index, source.id)
            if let old, old.input == source.input {
                item.cached = ItemOutcome(id: source.id, input: source.input, base: base, output: old.output)
            } else if !force, let entry = store.readEntry(item.key) {
                item.cached = ItemOutcome(id: source.id, input: source.input, base: base, output: entry.digest, entry: entry)
                resumed += 1
            } else if old != nil {
                changed.append(source.id)
                item.reason = "input changed"
            } else if previous != nil && stageReasons.isEmpty {
                added.append(source.id)
                item.reason = "new item"
            } else {
                item.reason = stageReasons.first ?? "never run"
            }
            items.append(item)
        }
        var removed: [String] = []
        if stageReasons.isEmpty, let previousItems = previous?.items, !(recorded.allInPlace && previousItems.count == sources.count) {
            let current = Set(sources.map(\.id))
            removed = previousItems.map(\.id).filter { !current.contains($0) }
        }

        var reasons = stageReasons
        if stageReasons.isEmpty {
            if !changed.isEmpty { reasons.append(Planner.count(changed, "item", "changed input")) }
            if !added.isEmpty { reasons.append(Planner.count(added, "item", "new")) }
            if !removed.isEmpty { reasons.append(Planner.count(removed, "item", "gone (outputs dropped)")) }
            if resumed > 0 && reasons.isEmpty { reasons.append("\(resumed) item(s) finished by an interrupted run, to be recorded") }
        } else if resumed > 0 {
            reasons.append("\(resumed) of \(items.count) items already in the cache")
        }
        return Plan(stage: stage, base: base, deps: deps, work: .map(items: items, removed: removed), reasons: reasons)
    }

    /// One unit's worth of input before it is planned: an item, or a bucket of them.
    struct Source {
        var id: String
        var input: Digest
        var files: () throws -> [InputFile]
        var members: (() throws -> [ItemMember])?
    }

    /// One item per file whose path matches `glob`: the id is the path, the item's one file keeps its own name.
    static func fileItems(_ files: [InputFile], glob: String) -> [Source] {
        let pattern = Glob(glob)
        return files.filter { pattern.matches($0.path) }.map { file in
            Source(id: file.path, input: file.digest, files: {
                let name = file.path.lastIndex(of: "/").map { String(file.path[file.path.index(after: $0)...]) } ?? file.path
                return [InputFile(path: name, location: file.location, digest: file.digest)]
            })
        }
    }

    /// Each item with its `join:`s: their files under `STAGE/`, their digests (or their absence) in the item's input.
    static func joined(_ sources: [Source], _ joins: [JoinSource], outcomes: [String: StageOutcome]) throws -> [Source] {
        typealias Found = (digest: Digest, files: () throws -> [InputFile])
        var lookups: [(label: String, name: String, find: (String) -> Found?)] = []
        for join in joins {
            let outcome = outcomes[join.stage]!
            if let under = join.under {
                let files = try outcome.inputFiles()
                let paths = files.map(\.path)
                lookups.append((join.label, join.stage, { id in
                    // The item's folder `under/ID/`, found by binary search in the sorted paths.
                    let prefix = under + "/" + id + "/"
                    var low = 0, high = paths.count
                    while low < high {
                        let middle = (low + high) / 2
                        if paths[middle] < prefix { low = middle + 1 } else { high = middle }
                    }
                    var end = low
                    while end < paths.count, paths[end].hasPrefix(prefix) { end += 1 }
                    guard end > low else { return nil }
                    let mine = files[low..<end].map { InputFile(path: String($0.path.dropFirst(prefix.count)), location: $0.location, digest: $0.digest) }
                    return (Digest.tree(mine.map { (path: $0.path, digest: $0.digest) }), { mine })
                }))
            } else {
                let items = Dictionary(outcome.mapItems().map { ($0.id, (digest: $0.input, files: $0.files)) }, uniquingKeysWith: { $1 })
                lookups.append((join.label, join.stage, { items[$0] }))
            }
        }
        return sources.map { source in
            var builder = KeyBuilder()
            builder.add("item", source.input)
            var parts: [(name: String, files: () throws -> [InputFile])] = []
            for lookup in lookups {
                if let found = lookup.find(source.id) {
                    builder.add(lookup.label, found.digest)
                    parts.append((lookup.name, found.files))
                } else {
                    builder.add(lookup.label, "absent")
                }
            }
            return Source(id: source.id, input: builder.finish(), files: {
                try source.files() + parts.flatMap { part in
                    try part.files().map { InputFile(path: part.name + "/" + $0.path, location: $0.location, digest: $0.digest) }
                }
            })
        }
    }

    /// The items gathered into `count` buckets (see `Bucket`): a bucket is one unit, named by its number, keyed by its
    /// members' ids and inputs. Empty buckets are no unit.
    static func bucketed(_ sources: [Source], count: Int) -> [Source] {
        var groups = [[Source]](repeating: [], count: count)
        for source in sources { groups[Bucket.number(of: source.id, count: count)].append(source) }
        return groups.enumerated().compactMap { number, members in
            guard !members.isEmpty else { return nil }
            var builder = KeyBuilder()
            builder.add("buckets", String(count))
            for member in members { builder.add(member.id, member.input) }
            return Source(id: Bucket.name(number, count: count), input: builder.finish(), files: { [] },
                          members: { try members.map { ItemMember(id: $0.id, files: try $0.files()) } })
        }
    }

    /// The last run's items, looked up by position first: a rerun lists the same items in the same order, and
    /// comparing one id beats hashing 13 708 of them into a dictionary. The dictionary is built on the first miss.
    private struct RecordedItems {
        let items: [ItemRecord]
        private var byID: [String: ItemRecord]?
        /// Whether every look-up so far found its item at its own position.
        private(set) var allInPlace = true

        init(_ items: [ItemRecord]) { self.items = items }

        mutating func item(_ index: Int, _ id: String) -> ItemRecord? {
            if index < items.count, items[index].id == id { return items[index] }
            allInPlace = false
            if byID == nil { byID = Dictionary(items.map { ($0.id, $0) }, uniquingKeysWith: { $1 }) }
            return byID![id]
        }
    }

    static func itemKey(base: Digest, id: String, input: Digest) -> Digest {
        var builder = KeyBuilder()
        builder.add("base", base)
        builder.add("item", id)
        builder.add("input", input)
        return builder.finish()
    }

    private static func count(_ ids: [String], _ noun: String, _ what: String) -> String {
        let examples = ids.prefix(3).joined(separator: ", ") + (ids.count > 3 ? ", ..." : "")
        return "\(ids.count) \(noun)\(ids.count == 1 ? "" : "s") \(what): \(examples)"
    }

    /// What differs between this stage's ingredients now and at its last run.
    private func reasons(_ stage: GraphStage, deps: [ResolvedDep], previous: StageRecord?, base: Digest) -> [String] {
        guard let previous else { return ["never run"] }
        if previous.base == base { return [] }
        var reasons: [String] = []
        if previous.kind != stage.kind.name { reasons.append("kind changed: \(previous.kind) -> \(stage.kind.name)") }
        if previous.kindVersion != stage.kind.version { reasons.append("kind version changed: \(previous.kindVersion) -> \(stage.kind.version)") }
        let names = Set(previous.params.keys).union(stage.params.keyed.keys).sorted()
        for name in names {
            let old = previous.params[name], new = stage.params[name]?.canonicalJSON
            if old != new { reasons.append("param '\(name)' changed: \(old ?? "(none)") -> \(new ?? "(none)")") }
        }
        var labels: Set<String> = []
        for dep in deps {
            labels.insert(dep.dependency.label)
            switch previous.deps[dep.dependency.label] {
            case nil: reasons.append("new input '\(dep.dependency.name)'")
            case let old? where old != dep.digest:
                if case .stage = dep.dependency {
                    reasons.append("input stage '\(dep.dependency.name)' produced different output")
                } else {
                    reasons.append("input path '\(dep.dependency.name)' changed")
                }
            default: break
            }
        }
        for label in previous.deps.keys.sorted() where !labels.contains(label) {
            reasons.append("input '\(label.split(separator: ":", maxSplits: 1).last!)' removed")
        }
        if previous.map != stage.map?.label { reasons.append("map source changed: \(previous.map ?? "(none)") -> \(stage.map?.label ?? "(none)")") }
        return reasons.isEmpty ? ["stage key changed"] : reasons
    }
}
