import Foundation

/// Keeps two runs from writing one workspace at once. Built on `flock`, which the kernel releases when
/// its holder dies however it dies, so a lock left by a killed run is never mistaken for a live one;
/// the holder's pid and command line are written inside for the message the second run shows.
public final class WorkspaceLock {
    private let fd: Int32
    /// What the lock file said when this process took it from a run that had died holding it.
    public private(set) var tookOverFrom: String?

    public enum Wait { case no, yes(notify: (String) -> Void) }

    /// `command` is how the holder is described to others; by default, this process's own command line
    /// (the runner does not know which program drives it).
    public init(workspace: Workspace, command: String = WorkspaceLock.commandLine, wait: Wait) throws {
        fd = open(workspace.lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw PipelineError(.io, "cannot open \(workspace.lockPath): \(String(cString: strerror(errno)))") }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let holder = WorkspaceLock.read(fd).trimmingCharacters(in: .whitespacesAndNewlines)
            let who = holder.isEmpty ? "another process" : holder
            switch wait {
            case .no:
                close(fd)
                throw PipelineError(.locked, "workspace \(workspace.root) is in use by \(who); wait for it to finish, or pass --wait")
            case .yes(let notify):
                notify("workspace \(workspace.root) is in use by \(who); waiting for it to finish")
                while flock(fd, LOCK_EX) != 0 {
                    guard errno == EINTR else {
                        close(fd)
                        throw PipelineError(.io, "cannot lock \(workspace.lockPath): \(String(cString: strerror(errno)))")
                    }
                }
            }
        }
        let previous = WorkspaceLock.read(fd).trimmingCharacters(in: .whitespacesAndNewlines)
        if !previous.isEmpty { tookOverFrom = previous }
        let note = "pid \(getpid()) (\(command)), started \(ISO8601DateFormatter().string(from: Date()))\n"
        ftruncate(fd, 0)
        _ = note.withCString { pwrite(fd, $0, strlen($0), 0) }
    }

    /// This process's command line, its program named by its file name alone.
    public static var commandLine: String {
        var words = CommandLine.arguments
        guard !words.isEmpty else { return "" }
        words[0] = (words[0] as NSString).lastPathComponent
        return words.joined(separator: " ")
    }

    private static func read(_ fd: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = pread(fd, &buffer, buffer.count, 0)
        return count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self) : ""
    }

    /// Clears the holder's note (a clean exit leaves none, so a note found later means a run died) and unlocks.
    public func release() {
        ftruncate(fd, 0)
        flock(fd, LOCK_UN)
        close(fd)
    }
}
