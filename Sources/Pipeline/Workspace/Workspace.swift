import Foundation

/// The folder a pipeline reads from and writes to (by default `data/`): dependency paths are relative
/// to it, `cache/` holds the runner's state and content-addressed outputs, and `out/PIPELINE/STAGE/`
/// shows each stage's latest outputs as links into the cache.
public struct Workspace: Sendable {
    public let root: String

    /// `create`: make the folder when it is missing (a first run); otherwise a missing folder is refused, so that a
    /// mistyped `--workspace` given to `status`, `gc` or `verify` is named rather than made.
    public init(root: String, create: Bool = true) throws {
        let absolute = root.hasPrefix("/") ? root : FileManager.default.currentDirectoryPath + "/" + root
        self.root = (absolute as NSString).standardizingPath
        var isFolder: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: self.root, isDirectory: &isFolder)
        if exists && !isFolder.boolValue { throw PipelineError(.io, "the workspace \(self.root) is a file, not a folder") }
        if !exists && !create {
            throw PipelineError(.missingPath, "no workspace at \(self.root): check --workspace (a pipeline's first run creates it)")
        }
        for folder in [cache, runs] {
            do {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            } catch {
                throw PipelineError(.io, "cannot create \(folder) in the workspace: \(ioReason(error))")
            }
        }
    }

    public var cache: String { root + "/cache" }
    var runs: String { cache + "/runs" }
    var statCachePath: String { cache + "/statcache" }
    var lockPath: String { cache + "/lock" }
    public var out: String { root + "/out" }

    public func absolute(_ relative: String) -> String { root + "/" + relative }
}

/// What the operating system said of a failed file operation (`Permission denied`, `No space left on device`), from a
/// Foundation error that would otherwise print as NSCocoaErrorDomain and a code.
public func ioReason(_ error: Error) -> String {
    let nsError = error as NSError
    if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
        return String(cString: strerror(Int32(underlying.code)))
    }
    if nsError.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(nsError.code))) }
    switch nsError.code {
    case NSFileWriteNoPermissionError, NSFileReadNoPermissionError: return String(cString: strerror(EACCES))
    case NSFileWriteOutOfSpaceError: return String(cString: strerror(ENOSPC))
    case NSFileNoSuchFileError, NSFileReadNoSuchFileError: return String(cString: strerror(ENOENT))
    case NSFileWriteVolumeReadOnlyError: return String(cString: strerror(EROFS))
    default: return nsError.localizedDescription
    }
}

/// A Foundation file error as a person reads it, `PATH: reason`; nil for any other error.
public func fileErrorMessage(_ error: Error) -> String? {
    let nsError = error as NSError
    guard nsError.domain == NSCocoaErrorDomain || nsError.domain == NSPOSIXErrorDomain else { return nil }
    let path = nsError.userInfo[NSFilePathErrorKey] as? String ?? (nsError.userInfo[NSURLErrorKey] as? URL)?.path
    var reason = ioReason(error)
    // Foundation sometimes gives no cause (NSFileWriteUnknownError): the nearest existing folder above says it.
    if nsError.domain == NSCocoaErrorDomain && nsError.code == NSFileWriteUnknownError, let path {
        var above = (path as NSString).deletingLastPathComponent
        while !above.isEmpty && above != "/" && access(above, F_OK) != 0 { above = (above as NSString).deletingLastPathComponent }
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: above, isDirectory: &isFolder) && !isFolder.boolValue {
            reason = "\(above) is a file, not a folder"
        } else if access(above, W_OK) != 0 {
            reason = "\(above): " + String(cString: strerror(errno))
        }
    }
    return (path.map { $0 + ": " } ?? "") + reason
}
