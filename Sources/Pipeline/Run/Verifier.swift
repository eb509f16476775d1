import Foundation
import ParallelWork

/// Rehashes every object of the cache and takes out what no longer matches its name: the object, every
/// entry that lists it, and every run record's claim on those entries. The next run then recomputes exactly
/// the units whose outputs were damaged, and nothing else: their rerun gives the same bytes, so what follows
/// them stays up to date.
public enum Verifier {
    public struct Result: Sendable {
        public var objectsChecked = 0
        public var bytesChecked: Int64 = 0
        /// Objects whose content no longer has the digest they are named by, as paths.
        public var damaged: [String] = []
        /// Objects that out/ links to and the cache no longer holds, as paths.
        public var missing: [String] = []
        public var entriesRemoved = 0
        /// What the next run recomputes.
        public var recomputed: [Unit] = []
    }

    /// A unit of work whose output was taken out: a whole stage, or one item of a map stage.
    public struct Unit: Sendable, Hashable, CustomStringConvertible {
        public var pipeline: String
        public var stage: String
        public var item: String?

        public var description: String { "stage '\(stage)' of \(pipeline)" + (item.map { ", item \($0)" } ?? "") }
    }

    public static func verify(workspace: Workspace, threads: Int) throws -> Result {
        let store = try ObjectStore(root: workspace.cache)
        CacheLayout.upgrade(workspace: workspace, store: store)
        let lock = try WorkspaceLock(workspace: workspace, wait: .no)
        defer { lock.release() }
        var result = Result()
        let objects = store.allObjects(threads: threads)
        let verdicts = try ParallelWork.map(objects, threads: threads) { name, _ -> (Bool, Int64) in
            let path = store.path(of: name)
            guard let (actual, size) = try? FileHasher.digest(ofFileAt: path) else { return (false, 0) }
            if actual == name.digest { ObjectStore.stamp(path) }  // checked now: status need not read it again
            return (actual == name.digest, size)
        }
        var bad: Set<Digest> = []
        for ((name, _), (good, size)) in zip(objects, verdicts) {
            result.objectsChecked += 1
            result.bytesChecked += size
            if !good {
                bad.insert(name.digest)
                result.damaged.append(store.path(of: name))
            }
        }
        let missing = store.missingObjects(linkedFrom: workspace.out)
        result.missing = missing.map { store.path(of: $0) }.sorted()
        (result.entriesRemoved, result.recomputed) = try takeOut(bad.union(missing.map(\.digest)), store: store, workspace: workspace)
        return result
    }

    /// Removes the `bad` objects, the entries that list them and the run records' claims on those entries (or,
    /// with `dryRun`, only says what would go); returns how many entries, and the units the next run recomputes.
    static func takeOut(_ bad: Set<Digest>, store: ObjectStore, workspace: Workspace, dryRun: Bool = false) throws -> (Int, [Unit]) {
        guard !bad.isEmpty else { return (0, []) }
        var removed: Set<Digest> = []
        for key in store.allEntryKeys() {
            guard let entry = store.readEntry(key, evenIfIncomplete: true), entry.files.values.contains(where: { bad.contains($0.digest) }) else { continue }
            if !dryRun { store.removeEntry(key) }
            removed.insert(key)
        }
        if !dryRun { for digest in bad { store.removeObjects(digest) } }
        var recomputed: [Unit] = []
        for var record in RunRecord.all(workspace: workspace).records {
            var changed = false
            for (name, stage) in record.stages {
                if let files = stage.files, removed.contains(stage.base) || files.values.contains(where: { bad.contains($0.digest) }) {
                    record.stages[name] = nil
                    recomputed.append(Unit(pipeline: record.pipeline, stage: name, item: nil))
                    changed = true
                } else if let items = stage.items {
                    let gone = Set(items.filter { removed.contains(Planner.itemKey(base: stage.base, id: $0.id, input: $0.input)) }.map(\.id))
                    guard !gone.isEmpty else { continue }
                    recomputed += items.filter { gone.contains($0.id) }.map { Unit(pipeline: record.pipeline, stage: name, item: $0.id) }
                    record.stages[name]?.items = items.filter { !gone.contains($0.id) }
                    changed = true
                }
            }
            if changed && !dryRun { try record.save(workspace: workspace) }
        }
        return (removed.count, recomputed.sorted { $0.description < $1.description })
    }
}
