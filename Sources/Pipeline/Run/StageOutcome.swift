import Foundation

/// One item of a finished map stage.
struct ItemOutcome {
    var id: String
    /// The digest of what the item read.
    var input: Digest
    var key: Digest
    /// The digest of what the item produced.
    var output: Digest
    /// The item's files, when this run has them at hand; otherwise read from its entry on demand.
    var entry: Entry?
}

/// What a finished (or already up-to-date) stage produced, as later stages consume it.
final class StageOutcome {
    let output: Digest
    let files: [String: FileEntry]?
    let items: [ItemOutcome]?
    private let store: ObjectStore
    private let stage: String

    init(stage: String, whole files: [String: FileEntry], store: ObjectStore) {
        self.stage = stage
        self.files = files
        self.items = nil
        self.store = store
        output = Digest.tree(files.map { (path: $0.key, digest: $0.value.digest) })
    }

    init(stage: String, items: [ItemOutcome], store: ObjectStore) {
        self.stage = stage
        self.files = nil
        self.items = items
        self.store = store
        output = StageOutcome.digest(of: items)
    }

    static func digest(of items: [ItemOutcome]) -> Digest {
        var builder = KeyBuilder()
        for item in items { builder.add(item.id, item.output) }
        return builder.finish()
    }

    func entry(of item: ItemOutcome) throws -> Entry {
        if let entry = item.entry { return entry }
        guard let entry = store.readEntry(item.key) else {
            throw PipelineError(.corrupt, "the cached output of item '\(item.id)' of stage '\(stage)' is missing (deleted by hand?); rerun with --force \(stage)")
        }
        return entry
    }

    /// Every output file: a whole stage's own paths, a map stage's as `ITEM/PATH`.
    func inputFiles() throws -> [InputFile] {
        if let files {
            return store.inputFiles(of: Entry(files: files))
        }
        var result: [InputFile] = []
        for item in items ?? [] {
            result += store.inputFiles(of: try entry(of: item), prefix: item.id + "/")
        }
        return result
    }

    /// The items a map stage downstream iterates over: a map stage's own items, or the top-level
    /// entries of a whole stage's output (a folder per item, or a file per item).
    func mapItems() -> [(id: String, input: Digest, files: () throws -> [InputFile])] {
        if let items {
            return items.map { item in (item.id, item.output, { [self] in store.inputFiles(of: try entry(of: item)) }) }
        }
        var groups: [String: [String: FileEntry]] = [:]
        for (path, file) in files ?? [:] {
            let parts = path.split(separator: "/", maxSplits: 1)
            let rest = parts.count == 2 ? String(parts[1]) : String(parts[0])
            groups[String(parts[0]), default: [:]][rest] = file
        }
        return groups.keys.sorted().map { id in
            let group = Entry(files: groups[id]!)
            return (id, group.digest, { [self] in store.inputFiles(of: group) })
        }
    }
}
