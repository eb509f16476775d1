import Foundation

/// Keeps `out/PIPELINE/STAGE/` showing each stage's current outputs as relative symbolic links into the
/// cache, so people and other tools find results by name. Only what changed is relinked.
///
/// Each folder (a whole stage's, or one item's) is built aside and swapped in, and the run record is saved
/// only after, so a run killed half-way leaves folders that the next run sees as stale and rebuilds.
struct Materializer {
    let workspace: Workspace
    let store: ObjectStore
    let pipeline: String

    func folder(_ stage: String) -> String { workspace.out + "/" + pipeline + "/" + stage }

    func update(stage: String, previous: StageRecord?, outcome: StageOutcome) throws {
        let root = folder(stage)
        let exists = access(root, F_OK) == 0
        let items: [ItemOutcome]
        switch outcome.produced {
        case .whole(let files):
            if exists && previous?.output == outcome.output { return }
            try replace(root, with: files)
            return
        case .items(let produced):
            items = produced
        }
        let before = exists ? Dictionary((previous?.items ?? []).map { ($0.id, $0.output) }, uniquingKeysWith: { $1 }) : [:]
        if !exists { try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true) }
        var current: Set<String> = []
        for item in items {
            current.insert(item.id)
            if before[item.id] == item.output { continue }
            try replace(root + "/" + item.id, with: try outcome.entry(of: item).files)
        }
        for id in before.keys where !current.contains(id) {
            try? FileManager.default.removeItem(atPath: root + "/" + id)
        }
    }

    func remove(stage: String) {
        try? FileManager.default.removeItem(atPath: folder(stage))
    }

    /// The workspace's real path when out/ or out/PIPELINE is a link to somewhere else, where a relative link would
    /// climb out of that other place and dangle; nil when relative links reach the cache (the usual case, which keeps a
    /// workspace movable).
    private func linksMustBeAbsolute() -> String? {
        let real = { (path: String) in URL(fileURLWithPath: path).resolvingSymlinksInPath().path }
        let root = real(workspace.root)
        let nearest = access(folder(""), F_OK) == 0 ? "/out/" + pipeline : "/out"
        return real(workspace.root + nearest) == root + nearest ? nil : root
    }

    /// Builds `folder`'s links in the cache's work area, then renames the old folder away and the new one in.
    private func replace(_ folder: String, with files: [String: FileEntry]) throws {
        let building = try store.makeWorkDirectory()
        let depth = folder.dropFirst(workspace.root.count + 1).split(separator: "/").count
        let absolute = linksMustBeAbsolute()
        for (path, file) in files {
            let linkPath = building + "/" + path
            let parent = (linkPath as NSString).deletingLastPathComponent
            if parent != building { try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true) }
            let up = depth + path.split(separator: "/").count - 1
            let object = "cache/objects/" + ObjectName(digest: file.digest, path: path).relativePath
            let target = absolute.map { $0 + "/" + object } ?? String(repeating: "../", count: up) + object
            guard symlink(target, linkPath) == 0 else {
                throw PipelineError(.io, "cannot link \(linkPath): \(String(cString: strerror(errno)))")
            }
        }
        try FileManager.default.createDirectory(atPath: (folder as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        if access(folder, F_OK) == 0 {
            let old = try store.makeWorkDirectory()
            rmdir(old)
            guard rename(folder, old) == 0 else { throw PipelineError(.io, "cannot replace \(folder): \(String(cString: strerror(errno)))") }
            try? FileManager.default.removeItem(atPath: old)
        }
        guard rename(building, folder) == 0 else { throw PipelineError(.io, "cannot create \(folder): \(String(cString: strerror(errno)))") }
    }
}
