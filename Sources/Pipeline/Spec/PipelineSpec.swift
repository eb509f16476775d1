import Foundation
import Yams

/// A pipeline file as written: stages in declaration order, each with the location of every field,
/// before any stage kind is looked up. `PipelineGraph` is what it becomes once validated.
public struct PipelineSpec: Sendable {
    public enum Reference: Sendable, Hashable {
        case stage(String)
        case path(String)
        /// A bare string: a stage when one has that name, otherwise a path.
        case either(String)
    }

    public enum MapSpec: Sendable, Hashable {
        case stage(String, glob: String?)
        case files(path: String, glob: String)
    }

    /// An entry of `join:`: another stage's items with the same ids (`mel`), or the files of a whole stage's
    /// folder named by each id (`{stage: clean, under: rows}`: `rows/ID/...`).
    public struct JoinSpec: Sendable, Hashable {
        public var stage: String
        public var under: String?
    }

    public struct Stage: Sendable {
        public var name: String
        public var uses: String
        public var params: [String: (ParamValue, SourceLocation)]
        public var deps: [(Reference, SourceLocation)]
        public var map: (MapSpec, SourceLocation)?
        public var join: [(JoinSpec, SourceLocation)]
        public var limits: UnitLimits
        public var location: SourceLocation
        public var usesLocation: SourceLocation
    }

    /// The pipeline's name: its file name without extension. Run records are kept under it.
    public var name: String
    public var file: String
    public var stages: [Stage]
    /// Each `foreach` or `matrix` declaration's name and the stages it became, in order: a dependency on the name is a
    /// dependency on all of them.
    public var groups: [String: [String]] = [:]

    /// - Parameter vars: values that replace the file's own `vars` for this run (each must be declared there).
    public static func load(file: String, vars overrides: [String: String] = [:]) throws -> PipelineSpec {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw PipelineError(.missingPath, "cannot read pipeline file \(file)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw PipelineError(.syntax, "\(file): not UTF-8 text")
        }
        return try parse(text, file: file, vars: overrides)
    }

    public static func parse(_ text: String, file: String, vars overrides: [String: String] = [:]) throws -> PipelineSpec {
        let name = ((file as NSString).lastPathComponent as NSString).deletingPathExtension
        let document = try Document(text, file: file)
        var vars: [String: String], lists: [String: [String]], entries = document.stages
        // Included files in order, then this one: later variables win; a later stage replaces an earlier one of the same
        // name where it stands (others follow), and a stage set to null leaves an earlier one out.
        var merged: [Document.Entry] = []
        vars = [:]; lists = [:]
        for (include, location) in document.includes {
            let path = include.hasPrefix("/") ? include : ((file as NSString).deletingLastPathComponent as NSString).appendingPathComponent(include)
            guard let data = FileManager.default.contents(atPath: path), let included = String(data: data, encoding: .utf8) else {
                throw PipelineError(.missingPath, "cannot read the included pipeline file \(path)", at: location)
            }
            let base = try Document(included, file: path)
            if let (_, nested) = base.includes.first {
                throw PipelineError(.badField, "an included file includes no other (one level keeps a pipeline readable)", at: nested)
            }
            Self.layer(base, over: &vars, &lists)
            try Self.layer(base.stages, over: &merged)
        }
        Self.layer(document, over: &vars, &lists)
        try Self.layer(entries, over: &merged)
        entries = merged
        for (name, value) in overrides.sorted(by: { $0.key < $1.key }) {
            if lists[name] != nil {
                lists[name] = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                continue
            }
            guard vars[name] != nil else {
                throw PipelineError(.badField, "\(file) has no variable '\(name)' to set (it has \((Array(vars.keys) + Array(lists.keys)).sorted().joined(separator: ", ")))")
            }
            vars[name] = value
        }
        let bindings = vars.keys.sorted().map { ($0, vars[$0]!) }
        var stages: [Stage] = []
        var groups: [String: [String]] = [:]
        var seen: Set<String> = []
        for entry in entries {
            let reader = Reader(file: entry.file)
            let body = try StageExpansion.substitute(entry.node, bindings, lists: lists, stage: entry.name, location: { reader.location($0) }) { !$0.hasPrefix("item") && $0 != "key" }
            let expanded = try StageExpansion.expand(entry.name, body, file: entry.file)
            var names = expanded.map(\.name)
            if names != [entry.name] {
                groups[entry.name] = names
                names.append(entry.name)
            }
            for stageName in names where !seen.insert(stageName).inserted {
                throw PipelineError(.badField, "stage '\(stageName)' is declared twice", at: entry.location)
            }
            guard stages.count + expanded.count <= PipelineLimits.stages else {
                throw PipelineError(.badField, "the pipeline declares more than \(PipelineLimits.stages) stages once 'foreach' and 'matrix' are expanded", at: entry.location)
            }
            for (stageName, node) in expanded { stages.append(try reader.stage(named: stageName, node, at: entry.location)) }
        }
        return PipelineSpec(name: name, file: file, stages: stages, groups: groups)
    }

    private static func layer(_ document: Document, over vars: inout [String: String], _ lists: inout [String: [String]]) {
        vars = vars.filter { document.lists[$0.key] == nil }.merging(document.vars) { $1 }
        lists = lists.filter { document.vars[$0.key] == nil }.merging(document.lists) { $1 }
    }

    private static func layer(_ entries: [Document.Entry], over merged: inout [Document.Entry]) throws {
        for entry in entries {
            let index = merged.firstIndex { $0.name == entry.name }
            if entry.leftOut {
                guard let index else {
                    throw PipelineError(.badField, "stage '\(entry.name)' is set to null, which leaves out an included stage, but no included file declares it",
                                        at: entry.location)
                }
                merged.remove(at: index)
            } else if let index {
                merged[index] = entry
            } else {
                merged.append(entry)
            }
        }
    }

    /// One pipeline file's top level as written: `stages` in order, `vars` (`${NAME}` in any stage's text) and
    /// `include` (a file whose stages and variables come first).
    private struct Document {
        struct Entry {
            var name: String
            var node: Node
            var file: String
            var location: SourceLocation
            /// Set to null: the included stage of this name is left out.
            var leftOut: Bool { node.null != nil }
        }

        var stages: [Entry] = []
        var vars: [String: String] = [:]
        /// Variables whose value is a list: `seeds: [1, 2]`, used alone as a value (`seed: "${seeds}"` in a matrix).
        var lists: [String: [String]] = [:]
        /// Files whose stages and variables come first, in order: `include: FILE` or `include: [FILE, ...]`.
        var includes: [(String, SourceLocation)] = []

        init(_ text: String, file: String) throws {
            let root: Node?
            do {
                root = try Yams.compose(yaml: text)
            } catch let error as YamlError {
                throw PipelineSpec.syntaxError(error, file: file)
            }
            let reader = Reader(file: file)
            if let root { try PipelineLimits.checkNodes(root, file: file) }
            guard let root, case .mapping(let top) = root else {
                throw PipelineError(.badField, "a pipeline file is a mapping with a 'stages' key", at: reader.location(root))
            }
            var stagesNode: Node?
            for (key, value) in top {
                let field = try reader.string(key, what: "a top-level key")
                switch field {
                case "stages": stagesNode = value
                case "description": _ = try reader.string(value, what: "'description'")
                case "include":
                    let what = "'include' (a pipeline file whose stages come first, or a list of them)"
                    if case .sequence(let files) = value {
                        includes = try files.map { (try reader.string($0, what: what), reader.location($0)) }
                    } else {
                        includes = [(try reader.string(value, what: what), reader.location(value))]
                    }
                case "vars":
                    guard case .mapping(let pairs) = value else {
                        throw PipelineError(.badField, "'vars' must be a mapping from a name to a value", at: reader.location(value))
                    }
                    for (name, setting) in pairs {
                        let key = try reader.string(name, what: "a variable's name")
                        if case .sequence(let items) = setting {
                            lists[key] = try items.map { try reader.string($0, what: "an item of variable '\(key)' (a number or a string)") }
                        } else {
                            vars[key] = try reader.string(setting, what: "variable '\(key)' (a number, a string or a list of them)")
                        }
                    }
                default:
                    throw PipelineError(.badField, "unknown top-level key '\(field)' (expected 'stages', 'vars', 'include', 'description')", at: reader.location(key))
                }
            }
            if stagesNode == nil && !includes.isEmpty { return }
            guard let stagesNode, case .mapping(let stageMap) = stagesNode else {
                throw PipelineError(.badField, "'stages' must be a mapping from stage name to stage", at: reader.location(stagesNode ?? root))
            }
            var seen: Set<String> = []
            for (key, value) in stageMap {
                let name = try reader.string(key, what: "a stage name")
                try PipelineLimits.checkStageName(name, at: reader.location(key))
                guard seen.insert(name).inserted else { throw PipelineError(.badField, "stage '\(name)' is declared twice", at: reader.location(key)) }
                stages.append(Entry(name: name, node: value, file: file, location: reader.location(key)))
            }
        }
    }

    private static func syntaxError(_ error: YamlError, file: String) -> PipelineError {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            let detail = [problem, context.map { "\($0.text)" }].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ", ")
            return PipelineError(.syntax, "YAML syntax error: \(detail)", at: SourceLocation(file: file, line: mark.line, column: mark.column))
        default:
            return PipelineError(.syntax, "YAML error in \(file): \(error)")
        }
    }
}

/// Reads typed fields from YAML nodes, turning every mismatch into an error at the node's location.
private struct Reader {
    let file: String

    func location(_ node: Node?) -> SourceLocation {
        guard let mark = node?.mark else { return SourceLocation(file: file, line: 1, column: 1) }
        return SourceLocation(file: file, line: mark.line, column: mark.column)
    }

    func string(_ node: Node, what: String) throws -> String {
        guard case .scalar(let scalar) = node else {
            throw PipelineError(.badField, "\(what) must be a string", at: location(node))
        }
        return scalar.string
    }

    func stage(named name: String, _ node: Node, at stageLocation: SourceLocation) throws -> PipelineSpec.Stage {
        guard case .mapping(let fields) = node else {
            throw PipelineError(.badField, "stage '\(name)' must be a mapping with 'uses', and optionally 'params', 'deps', 'map'", at: location(node))
        }
        var uses: (String, SourceLocation)?
        var params: [String: (ParamValue, SourceLocation)] = [:]
        var deps: [(PipelineSpec.Reference, SourceLocation)] = []
        var map: (PipelineSpec.MapSpec, SourceLocation)?
        var join: [(PipelineSpec.JoinSpec, SourceLocation)] = []
        var limits = UnitLimits()
        for (key, value) in fields {
            let field = try string(key, what: "a field of stage '\(name)'")
            switch field {
            case "uses": uses = (try string(value, what: "stage '\(name)': 'uses'"), location(value))
            case "params": params = try self.params(value, stage: name)
            case "deps": deps = try self.deps(value, stage: name)
            case "map": map = (try self.map(value, stage: name), location(value))
            case "join": join = try self.join(value, stage: name)
            case "description": _ = try string(value, what: "stage '\(name)': 'description'")
            case "limits": limits = try self.limits(value, stage: name)
            default:
                throw PipelineError(.badField, "stage '\(name)': unknown field '\(field)' (expected uses, params, deps, map, join, limits, description)", at: location(key))
            }
        }
        guard let uses else {
            throw PipelineError(.badField, "stage '\(name)': missing 'uses' (the stage kind to run)", at: stageLocation)
        }
        return PipelineSpec.Stage(name: name, uses: uses.0, params: params, deps: deps, map: map, join: join, limits: limits,
                                  location: stageLocation, usesLocation: uses.1)
    }

    /// `limits: {seconds: S, memory_mb: M}`: both positive numbers, either may be left out.
    private func limits(_ node: Node, stage: String) throws -> UnitLimits {
        guard case .mapping(let fields) = node else {
            throw PipelineError(.badField, "stage '\(stage)': 'limits' must be a mapping such as {seconds: 600, memory_mb: 4000}", at: location(node))
        }
        var limits = UnitLimits()
        for (key, value) in fields {
            let field = try string(key, what: "a field of stage '\(stage)': 'limits'")
            let text = try string(value, what: "stage '\(stage)': limits.\(field)")
            switch field {
            case "seconds":
                guard let seconds = Double(text), seconds > 0 else {
                    throw PipelineError(.badField, "stage '\(stage)': limits.seconds must be a positive number, got \(text)", at: location(value))
                }
                limits.seconds = seconds
            case "memory_mb":
                guard let megabytes = Int(text), megabytes > 0 else {
                    throw PipelineError(.badField, "stage '\(stage)': limits.memory_mb must be a positive whole number, got \(text)", at: location(value))
                }
                limits.memoryMB = megabytes
            default:
                throw PipelineError(.badField, "stage '\(stage)': unknown limit '\(field)' (expected seconds, memory_mb)", at: location(key))
            }
        }
        return limits
    }

    private func params(_ node: Node, stage: String) throws -> [String: (ParamValue, SourceLocation)] {
        if case .scalar(let scalar) = node, scalar.string.isEmpty || scalar.string == "~" || scalar.string == "null" { return [:] }
        guard case .mapping(let mapping) = node else {
            throw PipelineError(.badField, "stage '\(stage)': 'params' must be a mapping of name: value", at: location(node))
        }
        var result: [String: (ParamValue, SourceLocation)] = [:]
        var merged: [String: (ParamValue, SourceLocation)] = [:]
        for (key, value) in mapping {
            let name = try string(key, what: "stage '\(stage)': a param name")
            if name == "<<" {
                // YAML's merge key (`<<: *anchor`): another params mapping, whose entries this one's own override.
                for (inherited, entry) in try params(value, stage: stage) where merged[inherited] == nil { merged[inherited] = entry }
                continue
            }
            result[name] = (try paramValue(value, stage: stage, param: name), location(value))
        }
        return result.merging(merged) { own, _ in own }
    }

    private func paramValue(_ node: Node, stage: String, param: String) throws -> ParamValue {
        switch node {
        case .scalar(let scalar):
            if scalar.style == .plain {
                if let value = node.bool { return .bool(value) }
                if let value = node.int { return .int(value) }
                if let value = node.float, !scalar.string.isEmpty { return .double(value) }
                if node.null != nil {
                    throw PipelineError(.badParam, "stage '\(stage)': param '\(param)' has no value", at: location(node))
                }
            }
            return .string(scalar.string)
        case .sequence(let sequence):
            return .list(try sequence.map { try paramValue($0, stage: stage, param: param) })
        default:
            throw PipelineError(.badParam, "stage '\(stage)': param '\(param)' must be a number, string, boolean or list", at: location(node))
        }
    }

    private func deps(_ node: Node, stage: String) throws -> [(PipelineSpec.Reference, SourceLocation)] {
        let items: [Node]
        switch node {
        case .sequence(let sequence): items = Array(sequence)
        case .scalar, .mapping: items = [node]
        default: items = []
        }
        return try items.map { item in (try reference(item, stage: stage, field: "deps"), location(item)) }
    }

    private func reference(_ node: Node, stage: String, field: String) throws -> PipelineSpec.Reference {
        switch node {
        case .scalar(let scalar):
            return .either(scalar.string)
        case .mapping(let mapping) where mapping.count == 1:
            let (key, value) = mapping.first!
            let kind = try string(key, what: "stage '\(stage)': '\(field)' entry")
            let target = try string(value, what: "stage '\(stage)': '\(field)' \(kind)")
            switch kind {
            case "stage": return .stage(target)
            case "path": return .path(target)
            default: break
            }
        default: break
        }
        throw PipelineError(.badField, "stage '\(stage)': each '\(field)' entry is a stage name, a path, {stage: NAME} or {path: PATH}", at: location(node))
    }

    private func join(_ node: Node, stage: String) throws -> [(PipelineSpec.JoinSpec, SourceLocation)] {
        let entries: [Node]
        switch node {
        case .sequence(let sequence): entries = Array(sequence)
        default: entries = [node]
        }
        let usage = "stage '\(stage)': each 'join' entry is a stage name or {stage: NAME, under: FOLDER}"
        return try entries.map { entry in
            switch entry {
            case .scalar(let scalar):
                return (PipelineSpec.JoinSpec(stage: scalar.string, under: nil), location(entry))
            case .mapping(let mapping):
                var spec = PipelineSpec.JoinSpec(stage: "", under: nil)
                for (key, value) in mapping {
                    switch try string(key, what: "stage '\(stage)': a 'join' field") {
                    case "stage": spec.stage = try string(value, what: "stage '\(stage)': join 'stage'")
                    case "under": spec.under = try string(value, what: "stage '\(stage)': join 'under'")
                    default: throw PipelineError(.badField, usage, at: location(key))
                    }
                }
                guard !spec.stage.isEmpty else { throw PipelineError(.badField, usage, at: location(entry)) }
                return (spec, location(entry))
            default:
                throw PipelineError(.badField, usage, at: location(entry))
            }
        }
    }

    private func map(_ node: Node, stage: String) throws -> PipelineSpec.MapSpec {
        switch node {
        case .scalar(let scalar):
            return .stage(scalar.string, glob: nil)
        case .mapping(let mapping):
            var path: String?
            var glob: String?
            var upstream: String?
            for (key, value) in mapping {
                switch try string(key, what: "stage '\(stage)': a 'map' field") {
                case "path": path = try string(value, what: "stage '\(stage)': map 'path'")
                case "glob":
                    glob = try string(value, what: "stage '\(stage)': map 'glob'")
                    guard Glob.alternatives(of: glob!) != nil else {
                        throw PipelineError(.badField, "stage '\(stage)': the glob '\(glob!)' stands for more than \(PipelineLimits.globAlternatives) patterns once its braces are expanded", at: location(value))
                    }
                case "stage": upstream = try string(value, what: "stage '\(stage)': map 'stage'")
                default:
                    throw PipelineError(.badField, "stage '\(stage)': 'map' takes a stage name, {stage: NAME, glob: PATTERN}, or {path: DIR, glob: PATTERN}", at: location(key))
                }
            }
            if let upstream, path == nil { return .stage(upstream, glob: glob) }
            if let path, upstream == nil { return .files(path: path, glob: glob ?? "**") }
        default: break
        }
        throw PipelineError(.badField, "stage '\(stage)': 'map' takes a stage name, {stage: NAME, glob: PATTERN}, or {path: DIR, glob: PATTERN}", at: location(node))
    }
}
