import Foundation

/// Drops cache entries and objects that no run record references: the outputs of superseded params,
/// removed items and abandoned runs. What a record names is never touched, and with a record that cannot be read
/// nothing is: its outputs cannot be told from garbage.
public enum GarbageCollector {
    public struct Result: Sendable {
        public var entriesRemoved = 0
        public var objectsRemoved = 0
        public var bytesFreed: Int64 = 0
        public var objectsKept = 0
    }

    public static func collect(workspace: Workspace, dryRun: Bool = false) throws -> Result {
        let store = try ObjectStore(root: workspace.cache)
        CacheLayout.upgrade(workspace: workspace, store: store)
        let lock = try WorkspaceLock(workspace: workspace, wait: .no)
        defer { lock.release() }
        var liveEntries: Set<Digest> = []
        var liveObjects: Set<ObjectName> = []
        let (records, unreadable) = RunRecord.all(workspace: workspace)
        guard unreadable.isEmpty else {
            throw PipelineError(.corrupt, "gc removed nothing: the run record " + unreadable.joined(separator: ", ")
                                + " says which outputs are in use; run that pipeline again to rewrite it, or delete the file to let gc drop its outputs")
        }
        for record in records {
            for stage in record.stages.values {
                if let files = stage.files {
                    liveEntries.insert(stage.base)
                    for (path, file) in files { liveObjects.insert(ObjectName(digest: file.digest, path: path)) }
                }
                for item in stage.items ?? [] {
                    let key = Planner.itemKey(base: stage.base, id: item.id, input: item.input)
                    liveEntries.insert(key)
                    for (path, file) in store.readEntry(key)?.files ?? [:] { liveObjects.insert(ObjectName(digest: file.digest, path: path)) }
                }
            }
        }
        var result = Result()
        for key in store.allEntryKeys() where !liveEntries.contains(key) {
            result.entriesRemoved += 1
            if !dryRun { store.removeEntry(key) }
        }
        for (name, size) in store.allObjects() {
            if liveObjects.contains(name) {
                result.objectsKept += 1
            } else {
                result.objectsRemoved += 1
                result.bytesFreed += size
                if !dryRun { store.removeObject(name) }
            }
        }
        if !dryRun {
            store.clearTemporary()
            // Interrupted units' resume folders (training checkpoints): a collected workspace starts those units afresh.
            try? FileManager.default.removeItem(atPath: store.resume)
        }
        return result
    }
}
