import Foundation

/// Keeps `out/PIPELINE/STAGE/` showing each stage's current outputs as relative symbolic links into the
/// cache, so people and other tools find results by name. Only what changed is relinked.
struct Materializer {
    let workspace: Workspace
    let store: ObjectStore
    let pipeline: String

    func folder(_ stage: String) -> String { workspace.out + "/" + pipeline + "/" + stage }

    func update(stage: String, previous: StageRecord?, outcome: StageOutcome) throws {
        let root = folder(stage)
        let exists = access(root, F_OK) == 0
        if let files = outcome.files {
            if exists && previous?.output == outcome.output { return }
            try? FileManager.default.removeItem(atPath: root)
            try link(files, under: root, relative: "")
            return
        }
        let before = exists ? Dictionary((previous?.items ?? []).map { ($0.id, $0.output) }, uniquingKeysWith: { $1 }) : [:]
        if !exists { try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true) }
        var current: Set<String> = []
        for item in outcome.items ?? [] {
            current.insert(item.id)
            if before[item.id] == item.output { continue }
            try? FileManager.default.removeItem(atPath: root + "/" + item.id)
            try link(try outcome.entry(of: item).files, under: root, relative: item.id + "/")
        }
        for id in before.keys where !current.contains(id) {
            try? FileManager.default.removeItem(atPath: root + "/" + id)
        }
    }

    func remove(stage: String) {
        try? FileManager.default.removeItem(atPath: folder(stage))
    }

    private func link(_ files: [String: FileEntry], under root: String, relative prefix: String) throws {
        for (path, file) in files {
            let linkPath = root + "/" + prefix + path
            let folder = (linkPath as NSString).deletingLastPathComponent
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let depth = linkPath.dropFirst(workspace.root.count + 1).split(separator: "/").count - 1
            let target = String(repeating: "../", count: depth) + "cache/objects/" + file.digest.hex.prefix(2) + "/" + file.digest.hex
            unlink(linkPath)
            guard symlink(target, linkPath) == 0 else {
                throw PipelineError(.io, "cannot link \(linkPath): \(String(cString: strerror(errno)))")
            }
        }
    }
}
