import Crypto
import Foundation
import ParallelWork

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
        var result = statCache.digests(for: files)
        let pending = result.indices.filter { result[$0] == nil }
        let computed = try ParallelWork.map(pending, threads: threads) { index -> Digest in
            let (digest, bytes) = try FileHasher.digest(ofFileAt: files[index].absolute)
            statCache.remember(files[index], digest: digest)
            counter.lock(); bytesRead += bytes; filesRead += 1; counter.unlock()
            return digest
        }
        for (index, digest) in zip(pending, computed) { result[index] = digest }
        return result.compactMap { $0 }
    }
}

extension StageInput {
    /// The files under `root` (or `root` itself), hashed as a stage would see them, outside any workspace:
    /// for commands that run one stage's code on a folder of the user's.
    public static func scan(_ root: String, threads: Int) throws -> StageInput {
        let files = try FileScanner.scan(root)
        let hasher = FileHasher(statCache: StatCache(path: "/dev/null"), threads: threads)
        let digests = try hasher.digests(of: files)
        return StageInput(name: root, files: zip(files, digests).map { InputFile(path: $0.relative, location: $0.absolute, digest: $1) })
    }
}
