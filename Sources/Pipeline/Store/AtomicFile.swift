import Foundation

/// Writes whole files so that readers only ever see the old content or the new: a temporary file
/// beside the target, then `rename`, which a crash or `kill -9` cannot leave half done.
public enum AtomicFile {
    public static func write(_ data: Data, to path: String) throws {
        let temporary = path + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        guard FileManager.default.createFile(atPath: temporary, contents: data) else {
            throw PipelineError(.io, "cannot write \(temporary): \(String(cString: strerror(errno)))")
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw PipelineError(.io, "cannot move \(temporary) to \(path): \(reason)")
        }
    }
}
