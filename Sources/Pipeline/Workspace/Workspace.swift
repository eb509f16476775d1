import Foundation

/// The folder a pipeline reads from and writes to (by default `data/`): dependency paths are relative
/// to it, `cache/` holds the runner's state and content-addressed outputs, and `out/PIPELINE/STAGE/`
/// shows each stage's latest outputs as links into the cache.
public struct Workspace: Sendable {
    public let root: String

    public init(root: String) throws {
        let absolute = root.hasPrefix("/") ? root : FileManager.default.currentDirectoryPath + "/" + root
        self.root = (absolute as NSString).standardizingPath
        try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: runs, withIntermediateDirectories: true)
    }

    public var cache: String { root + "/cache" }
    var runs: String { cache + "/runs" }
    var statCachePath: String { cache + "/statcache" }
    var lockPath: String { cache + "/lock" }
    public var out: String { root + "/out" }

    public func absolute(_ relative: String) -> String { root + "/" + relative }
}
