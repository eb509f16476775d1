import Foundation

/// One file a stage reads: its path within the input it belongs to, where it is on disk
/// (read-only: cached outputs are shared), and its content digest.
public struct InputFile: Sendable, Hashable, Codable {
    public var path: String
    public var location: String
    public var digest: Digest
}

/// The files of one dependency (an upstream stage or a workspace path), sorted by path.
public struct StageInput: Sendable, Codable {
    /// The stage name, or the path as written in the pipeline.
    public var name: String
    public var files: [InputFile]

    /// Where each of its files is, by its path within the dependency.
    public var locations: [String: String] { Dictionary(files.map { ($0.path, $0.location) }, uniquingKeysWith: { first, _ in first }) }
}

/// What a running stage or item sees. Outputs go into `outputDirectory`, a fresh private folder
/// that the runner moves into the cache only after the work returns: a crash leaves nothing behind
/// that a later run would trust.
public class WorkContext: @unchecked Sendable {
    public let stage: String
    public let params: Params
    /// The `deps:` of the stage, in the order written.
    public let inputs: [StageInput]
    public let outputDirectory: String
    /// The workspace root, for stages that report paths to people.
    public let workspace: String
    /// A folder that outlives a failed or killed attempt at this unit and is handed to the next attempt with the same
    /// key, for work that checkpoints (training); removed once the unit's outputs are recorded. Never an output.
    public let resumeDirectory: String

    init(stage: String, params: Params, inputs: [StageInput], outputDirectory: String, workspace: String, resumeDirectory: String) {
        self.stage = stage
        self.params = params
        self.inputs = inputs
        self.outputDirectory = outputDirectory
        self.workspace = workspace
        self.resumeDirectory = resumeDirectory
    }

    public func input(_ name: String) -> StageInput? { inputs.first { $0.name == name } }

    /// Where each file of every dependency is, by its path within its dependency (the last dependency wins a path
    /// two share): for stages that find their inputs by name, wherever the pipeline put them.
    public var inputLocations: [String: String] {
        inputs.reduce(into: [:]) { locations, input in locations.merge(input.locations) { _, later in later } }
    }

    /// A file among the dependencies, named as a pipeline names one: `STAGE/FILE` (a file of a stage or path in deps) or
    /// the path of a single-file dependency itself; nil when no dependency holds it (its content is then in no key).
    public func dependencyFile(_ entry: String) -> InputFile? {
        for input in inputs {
            if input.name == entry, input.files.count == 1 { return input.files[0] }
            if entry.hasPrefix(input.name + "/"), let file = input.files.first(where: { $0.path == entry.dropFirst(input.name.count + 1) }) { return file }
        }
        return nil
    }

    /// The absolute path for an output file, its folders created.
    public func outputPath(_ relative: String) throws -> String {
        let path = outputDirectory + "/" + relative
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        return path
    }

    public func write(_ data: Data, to relative: String) throws {
        let path = try outputPath(relative)
        guard FileManager.default.createFile(atPath: path, contents: data) else {
            throw PipelineError(.io, "stage '\(stage)': cannot write output \(relative)")
        }
    }

    /// Writes `value` as JSON with sorted keys, so the same value always gives the same bytes.
    public func writeJSON<Value: Encodable>(_ value: Value, to relative: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        try write(try encoder.encode(value), to: relative)
    }
}

/// The context of a whole stage: all its inputs at once.
public final class StageContext: WorkContext, @unchecked Sendable {}

/// One item of a bucket: its id and its files (its `join:`s' under `STAGE/`).
public struct ItemMember: Sendable, Codable, Hashable {
    public var id: String
    public var files: [InputFile]
}

/// The context of one item of a map stage: the item's own files, plus the stage's other inputs.
public final class ItemContext: WorkContext, @unchecked Sendable {
    /// The item's identity, stable across runs: a file's relative path, or the upstream item's id; for a bucket,
    /// its number.
    public let id: String
    public let files: [InputFile]
    /// A bucket's items, in id order; empty for a plain item.
    public let members: [ItemMember]

    init(id: String, files: [InputFile], members: [ItemMember] = [], stage: String, params: Params, inputs: [StageInput], outputDirectory: String,
         workspace: String, resumeDirectory: String) {
        self.id = id
        self.files = files
        self.members = members
        super.init(stage: stage, params: params, inputs: inputs, outputDirectory: outputDirectory, workspace: workspace, resumeDirectory: resumeDirectory)
    }

    /// The item's single file, for kinds that map over files one at a time.
    public func onlyFile() throws -> InputFile {
        guard let file = files.first else { throw PipelineError(.stageFailed, "stage '\(stage)': item '\(id)' has no file") }
        return file
    }
}
