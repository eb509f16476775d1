import Foundation

/// What the last run of one pipeline produced, stage by stage: the ingredients of every key (so that
/// `status` can say which one changed) and the outputs (so that a no-op run reads nothing else).
struct RunRecord: Codable {
    var pipeline: String
    /// The pipeline file that made it, resolved: out/PIPELINE and this record are keyed by the file's base name, so a
    /// second file of that name must not take them over.
    var file: String?
    var stages: [String: StageRecord] = [:]

    static func path(workspace: Workspace, pipeline: String) -> String { workspace.runs + "/" + pipeline + ".json" }

    static func load(workspace: Workspace, pipeline: String) -> RunRecord {
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
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        try AtomicFile.write(try encoder.encode(self), to: RunRecord.path(workspace: workspace, pipeline: pipeline))
    }

    /// Every run record of the workspace, and the paths of those that cannot be read (with why).
    static func all(workspace: Workspace) -> (records: [RunRecord], unreadable: [String]) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: workspace.runs)) ?? []
        var records: [RunRecord] = [], unreadable: [String] = []
        for name in names.sorted() where name.hasSuffix(".json") {
            let path = workspace.runs + "/" + name
            do {
                guard let data = FileManager.default.contents(atPath: path) else { throw CocoaError(.fileReadUnknown) }
                records.append(try JSONDecoder().decode(RunRecord.self, from: data))
            } catch {
                unreadable.append("\(path) (\(error is DecodingError ? "not a run record" : "cannot be read"))")
            }
        }
        return (records, unreadable)
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

/// A map stage's items are written as one string rather than an array: JSONDecoder takes a quarter of a
/// MELD-sized status to unwrap 13 708 array elements, and almost no time to read one string without escapes.
/// Each item is `INPUT OUTPUT LENGTH ID`, space-separated, the id's length in bytes (an id may hold any
/// character, so nothing could separate items that JSON would not escape). Arrays, the older form, are read too.
extension StageRecord {
    enum CodingKeys: String, CodingKey {
        case kind, kindVersion, params, deps, map, base, output, files, items, finished
    }

    init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        kind = try container.decode(String.self, forKey: .kind)
        kindVersion = try container.decode(Int.self, forKey: .kindVersion)
        params = try container.decode([String: String].self, forKey: .params)
        deps = try container.decode([String: Digest].self, forKey: .deps)
        map = try container.decodeIfPresent(String.self, forKey: .map)
        base = try container.decode(Digest.self, forKey: .base)
        output = try container.decode(Digest.self, forKey: .output)
        files = try container.decodeIfPresent([String: FileEntry].self, forKey: .files)
        finished = try container.decode(String.self, forKey: .finished)
        if let text = try? container.decodeIfPresent(String.self, forKey: .items) {
            guard let parsed = ItemRecord.parseList(text) else {
                throw DecodingError.dataCorruptedError(forKey: .items, in: container, debugDescription: "not a list of item records: \(text.prefix(80))")
            }
            items = parsed
        } else {
            items = try container.decodeIfPresent([ItemRecord].self, forKey: .items)
        }
    }

    func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(kind, forKey: .kind)
        try container.encode(kindVersion, forKey: .kindVersion)
        try container.encode(params, forKey: .params)
        try container.encode(deps, forKey: .deps)
        try container.encodeIfPresent(map, forKey: .map)
        try container.encode(base, forKey: .base)
        try container.encode(output, forKey: .output)
        try container.encodeIfPresent(files, forKey: .files)
        try container.encode(finished, forKey: .finished)
        if let items {
            try container.encode(items.map { "\($0.input.hex) \($0.output.hex) \($0.id.utf8.count) \($0.id)" }.joined(separator: " "), forKey: .items)
        }
    }
}

/// One finished item: its id, the digest of what it read, and of what it produced.
struct ItemRecord: Decodable {
    var id: String
    var input: Digest
    var output: Digest

    init(id: String, input: Digest, output: Digest) {
        self.id = id
        self.input = input
        self.output = output
    }

    /// Parses `INPUT OUTPUT LENGTH ID INPUT OUTPUT LENGTH ID ...`; nil when the text is not such a list.
    static func parseList(_ text: String) -> [ItemRecord]? {
        var text = text
        return text.withUTF8 { bytes -> [ItemRecord]? in
            let raw = UnsafeRawBufferPointer(bytes)
            var items: [ItemRecord] = []
            var position = 0
            while position < raw.count {
                guard raw.count - position > 131, raw[position + 64] == 32, raw[position + 129] == 32,
                      let input = Digest.parse(hex: UnsafeRawBufferPointer(rebasing: raw[position..<position + 64])),
                      let output = Digest.parse(hex: UnsafeRawBufferPointer(rebasing: raw[position + 65..<position + 129])) else { return nil }
                position += 130
                var length = 0
                while position < raw.count, raw[position] >= 48, raw[position] <= 57, length < 1 << 20 {
                    length = length * 10 + Int(raw[position] - 48)
                    position += 1
                }
                guard position < raw.count, raw[position] == 32, length > 0, raw.count - position - 1 >= length else { return nil }
                let id = String(decoding: UnsafeRawBufferPointer(rebasing: raw[position + 1..<position + 1 + length]), as: UTF8.self)
                items.append(ItemRecord(id: id, input: input, output: output))
                position += 1 + length
                if position < raw.count {
                    guard raw[position] == 32 else { return nil }
                    position += 1
                }
            }
            return items
        }
    }

    /// The older form: one string `INPUT OUTPUT ID` per item.
    init(from decoder: Decoder) throws {
        var text = try decoder.singleValueContainer().decode(String.self)
        let parsed: ItemRecord? = text.withUTF8 { bytes in
            let raw = UnsafeRawBufferPointer(bytes)
            guard raw.count > 130, raw[64] == 32, raw[129] == 32,
                  let input = Digest.parse(hex: UnsafeRawBufferPointer(rebasing: raw[0..<64])),
                  let output = Digest.parse(hex: UnsafeRawBufferPointer(rebasing: raw[65..<129])) else { return nil }
            return ItemRecord(id: String(decoding: UnsafeRawBufferPointer(rebasing: raw[130...]), as: UTF8.self), input: input, output: output)
        }
        guard let parsed else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an item record: \(text.prefix(80))"))
        }
        self = parsed
    }
}
