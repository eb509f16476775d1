import CAtomics
import Foundation

/// Why an exchange stopped, naming the rank concerned.
public enum ExchangeError: Error, CustomStringConvertible, Equatable {
    case system(String)
    /// These ranks did not arrive within the wait's bound (dead, or stalled).
    case timeout(waitingFor: [Int], seconds: Double)
    /// Another rank gave up (and said so in the segment).
    case aborted(byRank: Int)
    case mismatch(String)

    public var description: String {
        switch self {
        case .system(let text): return text
        case let .timeout(ranks, seconds): return "rank(s) \(ranks.map(String.init).joined(separator: ", ")) did not arrive within \(seconds) s"
        case .aborted(let rank): return "rank \(rank) gave up"
        case .mismatch(let text): return text
        }
    }
}

/// Sums equal-length float buffers across N processes through one POSIX shared-memory segment, in place: a
/// reduce-scatter (rank r sums chunk r over every rank, in rank order 0, 1, ..., N-1) then an all-gather, so
/// every rank ends with identical bits, the same for a given N in every run. Two barriers a step, made of one
/// progress word per rank; every wait is bounded, and a rank that gives up marks the segment so the others
/// stop at once instead of at their bound.
///
/// The creator (the training stage) makes the segment (mode 0600, a name no other run shares) and unlinks it
/// once every rank has mapped it, so no exit, crash or `kill -9` leaves it behind.
public final class GradientExchange: @unchecked Sendable {
    public let name: String
    public let ranks: Int
    public let count: Int
    /// This process's rank; nil for the creator, which maps the segment but does not take part.
    public let rank: Int?
    private let base: UnsafeMutableRawPointer
    private let size: Int
    private var step: Int64 = 0

    private static let magic: Int64 = 0x454D_4F54_4752_4144  // "EMOTGRAD"
    private static let headerBytes = 4096
    private enum Word: Int { case magic = 0, ranks, count, attached, abort }
    private static let progressWord = 8

    /// Creates and maps a new segment for `ranks` processes exchanging `count` floats.
    public convenience init(creating name: String, ranks: Int, count: Int) throws {
        precondition(ranks >= 1 && count >= 0 && ranks + GradientExchange.progressWord <= GradientExchange.headerBytes / 8)
        let size = GradientExchange.headerBytes + 2 * ranks * count * MemoryLayout<Float>.stride
        let fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0o600)
        guard fd >= 0 else { throw ExchangeError.system("cannot create shared memory \(name): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard ftruncate(fd, off_t(size)) == 0 else {
            shm_unlink(name)
            throw ExchangeError.system("cannot size shared memory \(name) to \(size) bytes: \(String(cString: strerror(errno)))")
        }
        try self.init(name: name, fd: fd, size: size, rank: nil, ranks: ranks, count: count)
        word(.ranks).pointee = Int64(ranks)
        word(.count).pointee = Int64(count)
        catomic_store(word(.magic), GradientExchange.magic)
    }

    /// Maps an existing segment as `rank`.
    public convenience init(attaching name: String, rank: Int) throws {
        let fd = shm_open(name, O_RDWR, 0)
        guard fd >= 0 else { throw ExchangeError.system("cannot open shared memory \(name): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, Int(info.st_size) >= GradientExchange.headerBytes else { throw ExchangeError.system("shared memory \(name) is too small") }
        try self.init(name: name, fd: fd, size: Int(info.st_size), rank: rank, ranks: nil, count: nil)
        catomic_add(word(.attached), 1)
    }

    private init(name: String, fd: Int32, size: Int, rank: Int?, ranks: Int?, count: Int?) throws {
        guard let mapped = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), mapped != MAP_FAILED else {
            throw ExchangeError.system("cannot map shared memory \(name): \(String(cString: strerror(errno)))")
        }
        self.name = name
        self.base = mapped
        self.size = size
        let header = mapped.assumingMemoryBound(to: Int64.self)
        if rank != nil {
            guard catomic_load(header) == GradientExchange.magic else {
                munmap(mapped, size)
                throw ExchangeError.mismatch("shared memory \(name) is not a gradient exchange")
            }
        }
        self.ranks = ranks ?? Int(header[Word.ranks.rawValue])
        self.count = count ?? Int(header[Word.count.rawValue])
        self.rank = rank
        if let rank, !(0..<self.ranks).contains(rank) { throw ExchangeError.mismatch("rank \(rank) of \(self.ranks)") }
    }

    deinit { munmap(base, size) }

    private func word(_ which: Word) -> UnsafeMutablePointer<Int64> { base.assumingMemoryBound(to: Int64.self) + which.rawValue }
    private func progress(_ rank: Int) -> UnsafeMutablePointer<Int64> { base.assumingMemoryBound(to: Int64.self) + GradientExchange.progressWord + rank }
    private func slot(_ parity: Int, _ rank: Int) -> UnsafeMutablePointer<Float> {
        (base + GradientExchange.headerBytes).assumingMemoryBound(to: Float.self) + (parity * ranks + rank) * count
    }

    /// How many ranks have mapped the segment.
    public var attached: Int { Int(catomic_load(word(.attached))) }

    /// Waits (bounded) until every rank has mapped the segment, then removes its name: from then on it lives only as
    /// long as the processes that map it.
    public func unlinkWhenAllAttached(timeout: Double) throws {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while attached < ranks {
            if Date() > deadline {
                shm_unlink(name)
                throw ExchangeError.timeout(waitingFor: [], seconds: timeout)
            }
            usleep(200)
        }
        shm_unlink(name)
    }

    /// Marks the segment so that every rank stops waiting (a worker that fails calls it on its way out).
    public func abort() {
        _ = catomic_compare_exchange(word(.abort), 0, Int64((rank ?? ranks) + 1))
    }

    /// Replaces `values` (this rank's `count` floats) by their sum over every rank.
    public func allReduce(_ values: UnsafeMutableBufferPointer<Float>, timeout: Double = 10) throws {
        guard let rank else { preconditionFailure("the creator of an exchange does not take part in it") }
        precondition(values.count == count, "\(values.count) values for an exchange of \(count)")
        let parity = Int(step % 2)
        slot(parity, rank).update(from: values.baseAddress!, count: count)
        try barrier(2 * step + 1, timeout: timeout)
        // Reduce-scatter: this rank's chunk, summed over the ranks in rank order, into its own slot.
        let chunk = chunkRange(rank)
        if !chunk.isEmpty {
            let mine = slot(parity, rank)
            for index in chunk {
                var sum = slot(parity, 0)[index]
                for other in 1..<ranks { sum += slot(parity, other)[index] }
                mine[index] = sum
            }
        }
        try barrier(2 * step + 2, timeout: timeout)
        // All-gather: every chunk from the rank that summed it.
        for owner in 0..<ranks {
            let chunk = chunkRange(owner)
            guard !chunk.isEmpty else { continue }
            (values.baseAddress! + chunk.lowerBound).update(from: slot(parity, owner) + chunk.lowerBound, count: chunk.count)
        }
        step += 1
    }

    private func chunkRange(_ owner: Int) -> Range<Int> {
        let per = (count + ranks - 1) / ranks
        return min(owner * per, count)..<min((owner + 1) * per, count)
    }

    /// Says this rank reached `phase` and waits, bounded, for every other rank to reach it.
    private func barrier(_ phase: Int64, timeout: Double) throws {
        catomic_store(progress(rank!), phase)
        let deadline = Date(timeIntervalSinceNow: timeout)
        var spins = 0
        while true {
            let behind = (0..<ranks).filter { catomic_load(progress($0)) < phase }
            if behind.isEmpty { return }
            let aborted = catomic_load(word(.abort))
            if aborted != 0 { throw ExchangeError.aborted(byRank: Int(aborted) - 1) }
            // Yield first (the others may need this core), then sleep briefly, checking the bound.
            spins += 1
            if spins < 200 {
                sched_yield()
            } else {
                if Date() > deadline {
                    abort()
                    throw ExchangeError.timeout(waitingFor: behind, seconds: timeout)
                }
                usleep(50)
            }
        }
    }
}
