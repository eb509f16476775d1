import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A child process of a program the caller names, with chosen descriptors, watched and reaped by its parent: how
/// the runner starts the processes units run in, and how training starts its workers. One piece of code for both,
/// so both name a death the same way (`died of SIGSEGV`, `exited with status 3`).
public final class ChildProcess: @unchecked Sendable {
    /// How a child ended.
    public enum Termination: Sendable, Equatable, CustomStringConvertible {
        case exited(Int32)
        case signaled(Int32)

        public var description: String {
            switch self {
            case .exited(let status): return "exited with status \(status)"
            case .signaled(let signal): return "died of \(ChildProcess.signalName(signal))"
            }
        }

        public var succeeded: Bool { self == .exited(0) }

        init(waitStatus status: Int32) {
            self = status & 0x7F != 0 ? .signaled(status & 0x7F) : .exited((status >> 8) & 0xFF)
        }
    }

    /// Held while a descriptor exists without its close-on-exec flag, and while a child starts: a child started by
    /// another thread in between would inherit the descriptor and hold a pipe open that should close.
    private static let spawning = NSLock()

    public let pid: pid_t
    public let executable: String
    private let lock = NSLock()
    private var ended: Termination?

    /// Starts `executable` with `arguments`; `descriptors` maps a descriptor number in the child to one of this
    /// process's (the child's 0, 1, 2 are this process's unless mapped); `environment` adds to or replaces entries of this
    /// process's, and the entries `leaving` names are not passed on. Swift's long crash backtraces are off in the child unless
    /// `SWIFT_BACKTRACE` says otherwise: the parent names the signal.
    public init(executable: String, arguments: [String], descriptors: [Int32: Int32] = [:], environment: [String: String] = [:],
                leaving: (String) -> Bool = { _ in false }) throws {
        ChildProcess.spawning.lock()
        defer { ChildProcess.spawning.unlock() }
        // Each source first moves far above any target, so placing one cannot overwrite another still to be placed.
        var moved: [Int32] = []
        defer { for fd in moved { close(fd) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (target, source) in descriptors.sorted(by: { $0.key < $1.key }) {
            let high = fcntl(source, F_DUPFD_CLOEXEC, 200)
            guard high >= 0 else { throw ChildProcessError("cannot pass descriptor \(source) to \(executable): \(String(cString: strerror(errno)))") }
            moved.append(high)
            posix_spawn_file_actions_adddup2(&actions, high, target)
        }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for arg in argv { free(arg) } }
        var merged = ProcessInfo.processInfo.environment.filter { !leaving($0.key) }
        if merged["SWIFT_BACKTRACE"] == nil { merged["SWIFT_BACKTRACE"] = "enable=no" }
        merged.merge(environment) { $1 }
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for entry in envp { free(entry) } }
        var child: pid_t = 0
        let status = posix_spawn(&child, executable, &actions, nil, argv, envp)
        guard status == 0 else { throw ChildProcessError("cannot start \(executable): \(String(cString: strerror(status)))") }
        pid = child
        self.executable = executable
    }

    /// Where `PATH` finds the program `name` (a name with a slash is taken as it is); nil when nowhere.
    public static func find(_ name: String) -> String? {
        if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { access($0, X_OK) == 0 }
    }

    /// A pipe whose two ends close on exec: pass an end to a child through `descriptors`.
    public static func makePipe() throws -> (read: Int32, write: Int32) {
        spawning.lock()
        defer { spawning.unlock() }
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw ChildProcessError("cannot make a pipe: \(String(cString: strerror(errno)))") }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return (fds[0], fds[1])
    }

    /// How the child ended, without waiting; nil while it runs.
    public func poll() -> Termination? {
        lock.lock()
        defer { lock.unlock() }
        if let ended { return ended }
        var status: Int32 = 0
        while true {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid {
                ended = Termination(waitStatus: status)
                return ended
            }
            if reaped < 0 && errno == EINTR { continue }
            return nil
        }
    }

    /// Waits for the child to end; after `killAfter` seconds (if given) it is killed with SIGKILL and reaped.
    @discardableResult
    public func wait(killAfter seconds: Double? = nil) -> Termination {
        let deadline = seconds.map { Date(timeIntervalSinceNow: $0) }
        var killed = false
        while true {
            if let ended = poll() { return ended }
            if !killed, let deadline, Date() > deadline {
                signal(SIGKILL)
                killed = true
            }
            usleep(1_000)
        }
    }

    /// Sends `signal` to the child, unless it has already been reaped (its pid may then be another process's).
    public func signal(_ number: Int32) {
        lock.lock()
        defer { lock.unlock() }
        if ended == nil { kill(pid, number) }
    }

    /// A signal's name, as people read it in a failure.
    public static func signalName(_ signal: Int32) -> String {
        let names: [Int32: String] = [SIGSEGV: "SIGSEGV", SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGILL: "SIGILL", SIGFPE: "SIGFPE",
                                      SIGKILL: "SIGKILL (killed: out of memory, or by hand)", SIGTERM: "SIGTERM", SIGTRAP: "SIGTRAP",
                                      SIGPIPE: "SIGPIPE", SIGINT: "SIGINT"]
        return names[signal] ?? "signal \(signal)"
    }

    /// Makes this process end within 20 ms of its parent's death (even by SIGKILL), so no orphan goes on writing
    /// where another run now works, or holding a shared segment open.
    public static func exitWithParent(status: Int32 = 3) {
        let parent = getppid()
        let watchdog = Thread {
            while getppid() == parent { usleep(20_000) }
            _exit(status)
        }
        watchdog.name = "parent-watchdog"
        watchdog.start()
    }
}

/// Why a child could not be started.
public struct ChildProcessError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Writes every byte, retrying short writes; false when the reader is gone.
public func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
    var offset = 0
    while offset < bytes.count {
        let written = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
        if written < 0 {
            if errno == EINTR { continue }
            return false
        }
        offset += written
    }
    return true
}
