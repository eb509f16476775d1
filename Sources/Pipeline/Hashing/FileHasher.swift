import Crypto
import Foundation

/// Content digests of files, read only when the stat cache cannot vouch for them, and read in parallel.
final class FileHasher: @unchecked Sendable {
    let statCache: StatCache
    private let threads: Int
    private let counter = NSLock()
    /// Bytes actually read since this hasher was made: zero on a no-op run.
    private(set) var bytesRead: Int64 = 0
    private(set) var filesRead = 0

    init(statCache: StatCache, threads: Int) {
        self.statCache = statCache
        self.threads = max(1, threads)
    }

    /// SHA-256 of a file's bytes, streamed through a 1 MiB buffer, and its size.
    static func digest(ofFileAt path: String) throws -> (Digest, Int64) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw PipelineError(.io, "cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var hasher = SHA256()
        let capacity = 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 64)
        defer { buffer.deallocate() }
        var total: Int64 = 0
        while true {
            let count = read(fd, buffer.baseAddress, capacity)
            if count < 0 {
                if errno == EINTR { continue }
                throw PipelineError(.io, "cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if count == 0 { break }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            total += Int64(count)
        }
        return (Digest(hasher.finalize()), total)
    }

    /// Digests of `files`, in the same order.
    func digests(of files: [ScannedFile]) throws -> [Digest] {
        var result = [Digest?](repeating: nil, count: files.count)
        var pending: [Int] = []
        for (index, file) in files.enumerated() {
            if let known = statCache.digest(for: file) { result[index] = known } else { pending.append(index) }
        }
        if !pending.isEmpty {
            let lock = NSLock()
            var firstError: Error?
            result.withUnsafeMutableBufferPointer { slots in
                let slotsBase = slots
                DispatchQueue.concurrentPerform(iterations: min(threads, pending.count)) { worker in
                    var next = worker
                    while next < pending.count {
                        let index = pending[next]
                        next += threads
                        do {
                            let (digest, bytes) = try FileHasher.digest(ofFileAt: files[index].absolute)
                            slotsBase[index] = digest
                            statCache.remember(files[index], digest: digest)
                            counter.lock(); bytesRead += bytes; filesRead += 1; counter.unlock()
                        } catch {
                            lock.lock(); if firstError == nil { firstError = error }; lock.unlock()
                        }
                    }
                }
            }
            if let firstError { throw firstError }
        }
        return result.map { $0! }
    }
}

extension Digest {
    /// The SHA-256 of a file's content.
    public static func ofFile(at path: String) throws -> Digest { try FileHasher.digest(ofFileAt: path).0 }
}
