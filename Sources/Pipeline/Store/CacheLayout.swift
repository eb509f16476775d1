import Foundation

/// Brings a cache written before objects kept their extension (layout 1: `objects/ab/<sha256>`) to today's names
/// (`ObjectName`) without recomputing anything: each stored output gains its named object as a hard link to the old
/// one, and out/ links are re-pointed at it. The old names are left for `gc`, which no longer finds them in use.
/// `cache/layout` records that a cache is current, so this costs one `access` on every later command.
enum CacheLayout {
    static let current = "2"

    /// Upgrades when needed and when no run holds the workspace (else the next command does it).
    static func upgrade(workspace: Workspace, store: ObjectStore) {
        let marker = workspace.cache + "/layout"
        guard access(marker, F_OK) != 0 else { return }
        let stored = ((try? FileManager.default.contentsOfDirectory(atPath: store.objects)) ?? []).isEmpty == false
        if stored {
            guard let lock = try? WorkspaceLock(workspace: workspace, wait: .no) else { return }
            defer { lock.release() }
            nameObjects(store)
            relink(folder: workspace.out, store: store)
        }
        try? AtomicFile.write(Data((current + "\n").utf8), to: marker)
    }

    private static func nameObjects(_ store: ObjectStore) {
        for key in store.allEntryKeys() {
            for (path, file) in store.readEntry(key, evenIfIncomplete: true)?.files ?? [:] {
                let named = ObjectName(digest: file.digest, path: path)
                guard !named.suffix.isEmpty else { continue }
                link(store.path(of: ObjectName(digest: file.digest, suffix: "")), store.path(of: named))  // EEXIST: done before
            }
        }
    }

    /// Re-points each link under `folder` whose name has an extension and whose target is an old object name.
    private static func relink(folder: String, store: ObjectStore) {
        let manager = FileManager.default
        for name in (try? manager.contentsOfDirectory(atPath: folder)) ?? [] {
            let path = folder + "/" + name
            guard let target = try? manager.destinationOfSymbolicLink(atPath: path) else {
                var info = stat()
                if lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR { relink(folder: path, store: store) }
                continue
            }
            let suffix = ObjectName.suffix(of: name)
            guard target.contains("cache/objects/"), !suffix.isEmpty,
                  let old = ObjectName(fileName: String(target.split(separator: "/").last ?? "")), old.suffix.isEmpty,
                  access(store.path(of: ObjectName(digest: old.digest, suffix: suffix)), F_OK) == 0 else { continue }
            let fresh = path + ".relink-\(getpid())"
            if symlink(target + suffix, fresh) == 0, rename(fresh, path) != 0 { unlink(fresh) }
        }
    }
}
