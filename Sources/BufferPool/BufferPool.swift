import Foundation

/// Reuses large float buffers between tensors of the same size instead of returning them to the system.
///
/// A training step allocates and frees the same few dozen activation and gradient sizes every step; fresh
/// memory from the kernel arrives as pages to fault in and zero (a seventh of a ResNet-18 step here before
/// this pool). Buffers of at least `minimumBytes` are kept per exact page-rounded size; smaller ones go
/// straight to malloc. In a steady training loop the pool holds no more than the step's own peak.
public enum BufferPool {
    public static let minimumBytes = 256 << 10
    /// Upper bound on what the pool holds unused; past it, everything cached goes back to the system (sizes
    /// that stop recurring, say after the batch shape changes, do not pile up).
    nonisolated(unsafe) public static var limitBytes = 2 << 30

    private static let lock = NSLock()
    nonisolated(unsafe) private static var free: [Int: [UnsafeMutableRawPointer]] = [:]
    nonisolated(unsafe) private static var cachedBytes = 0

    private static func rounded(_ bytes: Int) -> Int { (bytes + 4095) & ~4095 }

    /// Memory for `bytes` bytes, aligned to 64, uninitialised.
    package static func allocate(bytes: Int) -> UnsafeMutableRawPointer {
        guard bytes >= minimumBytes else { return UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 1), alignment: 64) }
        let size = rounded(bytes)
        lock.lock()
        if let pointer = free[size]?.popLast() {
            cachedBytes -= size
            lock.unlock()
            return pointer
        }
        lock.unlock()
        return UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 4096)
    }

    /// Gives back memory from `allocate(bytes:)` with the same byte count.
    package static func release(_ pointer: UnsafeMutableRawPointer, bytes: Int) {
        guard bytes >= minimumBytes else { return pointer.deallocate() }
        let size = rounded(bytes)
        lock.lock()
        var evicted: [UnsafeMutableRawPointer] = []
        if cachedBytes + size > limitBytes {
            evicted = free.values.flatMap { $0 }
            free = [:]
            cachedBytes = 0
        }
        free[size, default: []].append(pointer)
        cachedBytes += size
        lock.unlock()
        for pointer in evicted { pointer.deallocate() }
    }
}
