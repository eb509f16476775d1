import Foundation

/// What the last run of one pipeline produced, stage by stage: the ingredients of every key (so that
/// `status` can say which one changed) and the outputs (so that a no-op run reads nothing else).
struct RunRecord: Codable {
    var pipeline: String
    var stages: [String: StageRecord] = [:]

    static func path(workspace: Workspace, pipeline: String) -> String { workspace.runs + "/" + pipeline + ".json" }

    static func load(workspace: Workspace, pipeline: String) throws -> RunRecord {
        let path = path(workspace: workspace, pipeline: pipeline)
        guard let data = FileManager.default.contents(atPath: path) else { return RunRecord(pipeline: pipeline) }
        do {
            return try JSONDecoder().decode(RunRecord.self, from: data)
        } catch {
            // A record that cannot be read only costs cache look-ups: every entry is still on disk under its key.
            FileHandle.standardError.write(Data("warning: ignoring unreadable run record \(path): \(error)\n".utf8))
            return RunRecord(pipeline: pipeline)
        }
    }

    func save(workspace: Workspace) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try AtomicFile.write(try encoder.encode(self), to: RunRecord.path(workspace: workspace, pipeline: pipeline))
    }

    static func all(workspace: Workspace) -> [RunRecord] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: workspace.runs)) ?? []
        return names.filter { $0.hasSuffix(".json") }.compactMap {
            guard let data = FileManager.default.contents(atPath: workspace.runs + "/" + $0) else { return nil }
            return try? JSONDecoder().decode(RunRecord.self, from: data)
        }
    }
}

struct StageRecord: Codable {
    var kind: String
    var kindVersion: Int
    /// Each param's canonical JSON, by name.
    var params: [String: String]
    /// Each dependency's content digest, by label (`stage:NAME`, `path:PATH`).
    var deps: [String: Digest]
    var map: String?
    /// The key of the stage before any item: kind, version, params, deps.
    var base: Digest
    /// The digest of everything the stage produced.
    var output: Digest
    /// A whole stage's files.
    var files: [String: FileEntry]?
    /// A map stage's items, in item order.
    var items: [ItemRecord]?
    var finished: String
}

/// One finished item: its id, the digest of what it read, and of what it produced.
/// Encoded as one string, `INPUT OUTPUT ID`, to keep records of 13 708 items small and fast to read.
struct ItemRecord: Codable {
    var id: String
    var input: Digest
    var output: Digest

    init(id: String, input: Digest, output: Digest) {
        self.id = id
        self.input = input
        self.output = output
    }

    init(from decoder: Decoder) throws {
        var text = try decoder.singleValueContainer().decode(String.self)
        let parsed: (Digest, Digest, String)? = text.withUTF8 { bytes in
            guard bytes.count > 130, bytes[64] == 32, bytes[129] == 32,
                  let input = Digest.parse(hex: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[0..<64]))),
                  let output = Digest.parse(hex: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[65..<129]))) else { return nil }
            return (input, output, String(decoding: UnsafeBufferPointer(rebasing: bytes[130...]), as: UTF8.self))
        }
        guard let parsed else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an item record: \(text.prefix(80))"))
        }
        (input, output, id) = parsed
    }

    func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode("\(input.hex) \(output.hex) \(id)")
    }
}
