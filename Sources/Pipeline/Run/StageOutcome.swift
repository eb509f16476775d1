import Foundation

/// One item of a finished map stage.
struct ItemOutcome {
    var id: String
    /// The digest of what the item read.
    var input: Digest
    /// The stage's key, from which the item's own is derived.
    var base: Digest
    /// The digest of what the item produced.
    var output: Digest
    /// The item's files, when this run has them at hand; otherwise read from its entry on demand.
    var entry: Entry?

    var key: Digest { Planner.itemKey(base: base, id: id, input: input) }
}

/// What a finished (or already up-to-date) stage produced, as later stages consume it.
final class StageOutcome {
    enum Produced {
        /// A whole stage's files, by path.
        case whole([String: FileEntry])
        /// A map stage's items, in item order.
        case items([ItemOutcome])
    }

    /// The digest of everything the stage produced; computed when a later stage or the record asks.
    private(set) lazy var output: Digest = {
        switch produced {
        case .whole(let files): return Digest.tree(files.map { (path: $0.key, digest: $0.value.digest) })
        case .items(let items): return StageOutcome.digest(of: items)
        }
    }()
    let produced: Produced
    private let store: ObjectStore
    private let stage: String

    init(stage: String, _ produced: Produced, store: ObjectStore) {
        self.stage = stage
        self.produced = produced
        self.store = store
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
        switch produced {
        case .whole(let files):
            return store.inputFiles(of: Entry(files: files))
        case .items(let items):
            return try items.flatMap { store.inputFiles(of: try entry(of: $0), prefix: $0.id + "/") }
        }
    }

    /// The items a map stage downstream iterates over: a map stage's own items, or the top-level
    /// entries of a whole stage's output (a folder per item, or a file per item).
    func mapItems() -> [(id: String, input: Digest, files: () throws -> [InputFile])] {
        let files: [String: FileEntry]
        switch produced {
        case .items(let items):
            return items.map { item in (item.id, item.output, { [self] in store.inputFiles(of: try entry(of: item)) }) }
        case .whole(let whole):
            files = whole
        }
        var groups: [String: [String: FileEntry]] = [:]
        for (path, file) in files {
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
