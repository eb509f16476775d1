import Foundation

/// A dependency of a stage, resolved: another stage's output, or files in the workspace.
public enum Dependency: Sendable, Hashable {
    case stage(String)
    /// A path relative to the workspace root, normalised, never leaving the workspace.
    case path(String)

    /// How the dependency enters a stage's key and its status report.
    var label: String {
        switch self {
        case .stage(let name): return "stage:\(name)"
        case .path(let path): return "path:\(path)"
        }
    }

    var name: String {
        switch self {
        case .stage(let name): return name
        case .path(let path): return path
        }
    }
}

/// What a map stage iterates over.
public enum MapSource: Sendable, Hashable {
    /// With no glob, one item per item of an upstream map stage, or per top-level entry of a whole stage's
    /// output; with a glob, one item per output file of the upstream stage whose path matches it.
    case stage(String, glob: String?)
    /// One item per file under a workspace path whose relative path matches a glob.
    case files(path: String, glob: String)

    var label: String {
        switch self {
        case .stage(let name, nil): return "stage:\(name)"
        case .stage(let name, let glob?): return "stage:\(name):\(glob)"
        case .files(let path, let glob): return "files:\(path):\(glob)"
        }
    }
}

/// Another stage's outputs attached to each item of a map stage, by the item's id.
public struct JoinSource: Sendable, Hashable {
    /// A map stage (its item with the same id), or a whole stage (its folder `under/ID/`).
    public var stage: String
    public var under: String?

    var label: String { under.map { "join:\(stage):\($0)" } ?? "join:\(stage)" }
}

/// A stage ready to run: its kind looked up, params validated and defaulted, references resolved.
public struct GraphStage: Sendable {
    public var name: String
    public var kind: StageKind
    public var params: Params
    public var deps: [Dependency]
    public var map: MapSource?
    /// Attached to each item, in order; their files appear under `STAGE/`.
    public var join: [JoinSource]
    /// For a kind that runs per bucket of items: how many buckets (its bucket param's value).
    public var buckets: Int?
    /// How long and how much memory each unit may take (when units run in child processes).
    public var limits: UnitLimits
    public var location: SourceLocation

    /// Upstream stages this stage waits for, through `deps` or `map`.
    public var upstream: [String] {
        var names: [String] = []
        if case .stage(let name, _)? = map { names.append(name) }
        for case .stage(let name) in deps where !names.contains(name) { names.append(name) }
        for source in join where !names.contains(source.stage) { names.append(source.stage) }
        return names
    }
}

/// A validated pipeline: stages in a dependency order (declaration order where free), acyclic.
public struct PipelineGraph: Sendable {
    public var name: String
    public var file: String
    public var stages: [GraphStage]
    /// The stages each `foreach`/`matrix` declaration expanded into, by the declaration's name.
    public var groups: [String: [String]] = [:]

    public func stage(_ name: String) -> GraphStage? { stages.first { $0.name == name } }

    /// Validates a parsed pipeline against the registered kinds. Paths are checked lexically here; whether they
    /// exist is checked when a run or status needs their content.
    public init(_ spec: PipelineSpec, registry: StageRegistry) throws {
        name = spec.name
        file = spec.file
        groups = spec.groups
        let resolver = Resolver(spec: spec, registry: registry)
        stages = try PipelineGraph.order(try spec.stages.map(resolver.stage))
    }

    /// Turns one declared stage into a graph stage: its kind, params, deps, map, joins and buckets, each checked against
    /// the pipeline's other declarations.
    private struct Resolver {
        let spec: PipelineSpec
        let registry: StageRegistry
        let declared: Set<String>

        init(spec: PipelineSpec, registry: StageRegistry) {
            self.spec = spec
            self.registry = registry
            declared = Set(spec.stages.map(\.name))
        }

        func stage(_ stage: PipelineSpec.Stage) throws -> GraphStage {
            guard let kind = registry[stage.uses] else {
                let known = registry.kinds.keys.sorted().joined(separator: ", ")
                throw PipelineError(.unknownKind, "stage '\(stage.name)': unknown stage kind '\(stage.uses)' (known kinds: \(known))", at: stage.usesLocation)
            }
            let params = try Params.validate(stage.params.mapValues { ($0.0, Optional($0.1)) }, against: kind.params, stage: stage.name, stageLocation: stage.location)
            let deps = try self.deps(of: stage), map = try self.map(of: stage, kind: kind)
            return GraphStage(name: stage.name, kind: kind, params: params, deps: deps, map: map, join: try joins(of: stage, map: map),
                              buckets: try buckets(of: stage, kind: kind, params: params), limits: stage.limits, location: stage.location)
        }

        /// Each dependency once: a stage, every stage of a `foreach`/`matrix` name, or a workspace path.
        private func deps(of stage: PipelineSpec.Stage) throws -> [Dependency] {
            var deps: [Dependency] = []
            for (reference, location) in stage.deps {
                let dependencies: [Dependency]
                switch reference {
                case .stage(let name) where declared.contains(name) || spec.groups[name] != nil,
                     .either(let name) where declared.contains(name) || spec.groups[name] != nil:
                    dependencies = (spec.groups[name] ?? [name]).map(Dependency.stage)
                case .stage(let pattern) where pattern.contains("*"), .either(let pattern) where pattern.contains("*"):
                    // `evaluate@audio-*`: every stage a matrix made for one value of an axis, whatever the others are.
                    let matching = spec.stages.map(\.name).filter { fnmatch(pattern, $0, 0) == 0 && $0 != stage.name }
                    guard !matching.isEmpty else {
                        throw PipelineError(.unknownStage, "stage '\(stage.name)': depends on '\(pattern)', which matches no stage of this pipeline", at: location)
                    }
                    dependencies = matching.map(Dependency.stage)
                case .stage(let name):
                    throw PipelineError(.unknownStage, "stage '\(stage.name)': depends on stage '\(name)', which this pipeline does not declare", at: location)
                case .path(let path), .either(let path):
                    dependencies = [.path(try PipelineGraph.normalise(path, stage: stage.name, at: location))]
                }
                for dependency in dependencies {
                    if dependency == .stage(stage.name) {
                        throw PipelineError(.cycle, "stage '\(stage.name)' depends on itself", at: location)
                    }
                    if !deps.contains(dependency) { deps.append(dependency) }
                }
            }
            return deps
        }

        /// What a per-item kind maps over; a whole kind takes none.
        private func map(of stage: PipelineSpec.Stage, kind: StageKind) throws -> MapSource? {
            guard let (mapSpec, location) = stage.map else {
                if kind.isMap {
                    throw PipelineError(.mapMismatch, "stage '\(stage.name)': kind '\(kind.name)' runs per item and needs 'map: STAGE' or 'map: {path: DIR, glob: PATTERN}'", at: stage.location)
                }
                return nil
            }
            guard kind.isMap else {
                throw PipelineError(.mapMismatch, "stage '\(stage.name)': kind '\(kind.name)' runs once over all its inputs and takes no 'map'", at: location)
            }
            switch mapSpec {
            case .stage(let name, let glob):
                try PipelineGraph.requireOne(name, groups: spec.groups, stage: stage.name, field: "map", at: location)
                guard declared.contains(name) else {
                    throw PipelineError(.unknownStage, "stage '\(stage.name)': maps over stage '\(name)', which this pipeline does not declare", at: location)
                }
                if name == stage.name { throw PipelineError(.cycle, "stage '\(stage.name)' maps over itself", at: location) }
                return .stage(name, glob: glob)
            case .files(let path, let glob):
                return .files(path: try PipelineGraph.normalise(path, stage: stage.name, at: location), glob: glob)
            }
        }

        /// Other stages attached to each item: a per-item stage by id, a whole stage by its folder `under/ID/`.
        private func joins(of stage: PipelineSpec.Stage, map: MapSource?) throws -> [JoinSource] {
            var join: [JoinSource] = []
            for (entry, location) in stage.join {
                try PipelineGraph.requireOne(entry.stage, groups: spec.groups, stage: stage.name, field: "join", at: location)
                guard map != nil else {
                    throw PipelineError(.mapMismatch, "stage '\(stage.name)': 'join' attaches other stages' outputs to the items of 'map', and this stage has no 'map'", at: location)
                }
                guard let upstream = entry.stage == stage.name ? nil : entry.stage, declared.contains(upstream) else {
                    throw PipelineError(entry.stage == stage.name ? .cycle : .unknownStage,
                                        "stage '\(stage.name)': joins stage '\(entry.stage)', which " + (entry.stage == stage.name ? "is itself" : "this pipeline does not declare"), at: location)
                }
                let upstreamIsMap = spec.stages.first { $0.name == upstream }.flatMap { registry[$0.uses] }?.isMap ?? false
                if upstreamIsMap == (entry.under != nil) {
                    throw PipelineError(.mapMismatch, upstreamIsMap
                        ? "stage '\(stage.name)': join '\(upstream)' runs per item, and its items join by id: drop 'under'"
                        : "stage '\(stage.name)': join '\(upstream)' runs once over all its inputs: say which of its folders holds one folder per item, {stage: \(upstream), under: FOLDER}",
                        at: location)
                }
                join.append(JoinSource(stage: upstream, under: entry.under.map { $0.split(separator: "/").joined(separator: "/") }))
            }
            return join
        }

        /// For a kind that runs per bucket of items: how many, from its bucket param.
        private func buckets(of stage: PipelineSpec.Stage, kind: StageKind, params: Params) throws -> Int? {
            guard let parameter = kind.bucketParam else { return nil }
            guard case .int(let count) = params.value(parameter), count >= 1 else {
                throw PipelineError(.badParam, "stage '\(stage.name)': param '\(parameter)' (how many buckets of items) must be at least 1", at: stage.params[parameter]?.1 ?? stage.location)
            }
            return count
        }
    }

    /// `map` and `join` take one stage: a `foreach` or `matrix` name stands for several.
    private static func requireOne(_ name: String, groups: [String: [String]], stage: String, field: String, at location: SourceLocation) throws {
        guard let members = groups[name] else { return }
        throw PipelineError(.unknownStage, "stage '\(stage)': '\(field)' takes one stage, and '\(name)' stands for \(members.count) (\(members.joined(separator: ", "))): "
                            + "name one, or declare this stage with the same 'foreach' and '\(name)@${item}'", at: location)
    }

    /// Kahn's algorithm, taking the earliest declared ready stage each time; on a cycle, names its members.
    private static func order(_ stages: [GraphStage]) throws -> [GraphStage] {
        var remaining = stages
        var done: Set<String> = []
        var ordered: [GraphStage] = []
        while !remaining.isEmpty {
            guard let index = remaining.firstIndex(where: { $0.upstream.allSatisfy(done.contains) }) else {
                let cycle = findCycle(remaining)
                throw PipelineError(.cycle, "the stages form a cycle: \(cycle.joined(separator: " -> "))", at: remaining.first { $0.name == cycle.first }?.location)
            }
            let stage = remaining.remove(at: index)
            done.insert(stage.name)
            ordered.append(stage)
        }
        return ordered
    }

    private static func findCycle(_ stages: [GraphStage]) -> [String] {
        let byName = Dictionary(uniqueKeysWithValues: stages.map { ($0.name, $0) })
        var path: [String] = []
        var onPath: Set<String> = []
        var finished: Set<String> = []
        func visit(_ name: String) -> [String]? {
            if onPath.contains(name) { return Array(path[path.firstIndex(of: name)!...]) + [name] }
            guard !finished.contains(name), let stage = byName[name] else { return nil }
            path.append(name); onPath.insert(name)
            for next in stage.upstream { if let cycle = visit(next) { return cycle } }
            path.removeLast(); onPath.remove(name); finished.insert(name)
            return nil
        }
        for stage in stages { if let cycle = visit(stage.name) { return cycle } }
        return stages.map(\.name)
    }

    /// A dependency path made relative to the workspace, with `.` and `..` resolved; one that leaves the workspace is refused.
    static func normalise(_ path: String, stage: String, at location: SourceLocation?) throws -> String {
        guard !path.isEmpty else { throw PipelineError(.badField, "stage '\(stage)': empty dependency path", at: location) }
        guard !path.hasPrefix("/") && !path.hasPrefix("~") else {
            throw PipelineError(.escapesWorkspace, "stage '\(stage)': dependency path '\(path)' must be relative to the workspace", at: location)
        }
        var parts: [Substring] = []
        for part in path.split(separator: "/") {
            if part == "." { continue }
            if part == ".." {
                guard !parts.isEmpty else {
                    throw PipelineError(.escapesWorkspace, "stage '\(stage)': dependency path '\(path)' escapes the workspace", at: location)
                }
                parts.removeLast()
            } else {
                parts.append(part)
            }
        }
        guard !parts.isEmpty else {
            throw PipelineError(.escapesWorkspace, "stage '\(stage)': dependency path '\(path)' is the whole workspace, which holds the cache itself", at: location)
        }
        let normal = parts.joined(separator: "/")
        if normal == "cache" || normal.hasPrefix("cache/") || normal == "out" || normal.hasPrefix("out/") {
            throw PipelineError(.escapesWorkspace, "stage '\(stage)': dependency path '\(path)' points into the runner's own folders; depend on the stage instead", at: location)
        }
        return normal
    }

    /// This graph restricted to `targets` (stages, or declarations standing for the stages they expanded into) and
    /// everything they depend on.
    public func upTo(_ targets: [String]) throws -> PipelineGraph {
        var wanted: Set<String> = []
        for target in targets {
            guard let named = groups[target] ?? stage(target).map({ [$0.name] }) else {
                throw PipelineError(.unknownStage, "no stage '\(target)' in \(file) (stages: \(stages.map(\.name).joined(separator: ", ")))")
            }
            wanted.formUnion(named)
        }
        for stage in stages.reversed() where wanted.contains(stage.name) { wanted.formUnion(stage.upstream) }
        var copy = self
        copy.stages = stages.filter { wanted.contains($0.name) }
        return copy
    }
}
