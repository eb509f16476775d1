import CFFmpeg
import Foundation

/// Bounds every wait for a stream's data. FFmpeg calls an input's interrupt callback every 100 ms or so while it waits
/// (connecting, probing, reading: tcp, udp, rtsp, http and devices alike), and gives up when it says so; its own
/// `rw_timeout` covers only some protocols (an RTSP server that accepts and never answers, or `udp://` with no sender,
/// waited forever). `arm` before each blocking call starts the clock again.
final class ReadWatchdog: @unchecked Sendable {
    private let timeout: Double?
    private let interrupted: @Sendable () -> Bool
    private let lock = NSLock()
    private var deadline = Double.infinity
    private var fired: String?

    /// `timeout` nil: no time limit (a file), only `interrupted`.
    init(timeout: Double?, interrupted: @escaping @Sendable () -> Bool) {
        self.timeout = timeout
        self.interrupted = interrupted
    }

    func arm() {
        lock.withLock { deadline = timeout.map { Self.now() + $0 } ?? .infinity }
    }

    /// Why the last wait was given up, when it was.
    var reason: String? { lock.withLock { fired } }

    private func shouldStop() -> Bool {
        if interrupted() {
            lock.withLock { fired = "interrupted while waiting for data" }
            return true
        }
        return lock.withLock {
            guard Self.now() > deadline else { return false }
            fired = String(format: "no data for %g s (the read timed out)", timeout ?? 0)
            return true
        }
    }

    /// The callback to set on a format context; the context must not outlive this object.
    var callback: AVIOInterruptCB {
        AVIOInterruptCB(callback: { opaque in
            guard let opaque else { return 0 }
            return Unmanaged<ReadWatchdog>.fromOpaque(opaque).takeUnretainedValue().shouldStop() ? 1 : 0
        }, opaque: Unmanaged.passUnretained(self).toOpaque())
    }

    private static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
