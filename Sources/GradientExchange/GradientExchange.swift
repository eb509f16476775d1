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
/// every rank ends with identical bits, the same for a given N in every run. A training worker keeps its gradient in
/// its home buffer in the segment (`reduceHome`: nothing is copied in); `allReduce` and `broadcast` stage other
/// buffers. Barriers are one progress word per rank; every wait is bounded, and a rank that gives up marks the
/// segment so the others stop at once instead of at their bound.
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
    /// Collective operations so far (their parity picks the half of the segment they use) and barriers passed.
    private var operations = 0
    private var phase: Int64 = 0
    /// The ticket at which the next `reduceHome` starts drawing blocks.
    private var ticketBase: Int64 = 0
    /// Floats per block `reduceHome` hands out: small enough that a block of every rank stays in cache while it is summed
    /// and written back.
    private static let block = 16_384

    private static let magic: Int64 = 0x454D_4F54_4752_4144  // "EMOTGRAD"
    private static let headerBytes = 4096
    private enum Word: Int { case magic = 0, ranks, count, attached, abort, ticket }
    private static let progressWord = 8

    /// Creates and maps a new segment for `ranks` processes exchanging `count` floats.
    public convenience init(creating name: String, ranks: Int, count: Int) throws {
        precondition(ranks >= 1 && count >= 0 && ranks + GradientExchange.progressWord <= GradientExchange.headerBytes / 8)
        let size = GradientExchange.headerBytes + 3 * ranks * count * MemoryLayout<Float>.stride
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
    /// The segment after its header: each rank's home buffer (`count` floats), then two halves of staging slots.
    private func home(_ rank: Int) -> UnsafeMutablePointer<Float> {
        (base + GradientExchange.headerBytes).assumingMemoryBound(to: Float.self) + rank * count
    }

    private func slot(_ parity: Int, _ rank: Int) -> UnsafeMutablePointer<Float> {
        (base + GradientExchange.headerBytes).assumingMemoryBound(to: Float.self) + ((1 + parity) * ranks + rank) * count
    }

    /// This rank's home buffer in the segment, `count` floats: a worker keeps its gradient here (backward writes into
    /// shared memory), so `reduceHome` sums without copying anything in.
    public var homeBuffer: UnsafeMutableBufferPointer<Float> {
        guard let rank else { preconditionFailure("the creator of an exchange has no home buffer") }
        return UnsafeMutableBufferPointer(start: home(rank), count: count)
    }

    /// Replaces every rank's home buffer by the sum over the ranks, in rank order, times `scale` (1/N averages, as DDP
    /// does). The buffers are cut into blocks that the ranks draw from a shared ticket counter: whoever draws a block sums
    /// it over the ranks in rank order, then writes the sum into every rank's home. So the reduce-scatter and the
    /// all-gather happen block by block while the block is in cache, no core waits for a rank the scheduler has not run
    /// yet (more workers than cores), and the bits do not depend on who summed what. Two barriers: every gradient is
    /// written; every block is everywhere. `within` limits it to part of the buffers (frozen parameters' gradients,
    /// always zero, need no exchange).
    public func reduceHome(within range: Range<Int>? = nil, scale: Float = 1, timeout: Double = 10) throws {
        guard rank != nil else { preconditionFailure("the creator of an exchange does not take part in it") }
        let range = range ?? 0..<count
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "range \(range) outside the \(count) floats of the exchange")
        try barrier(timeout: timeout)
        let blocks = (range.count + GradientExchange.block - 1) / GradientExchange.block
        let base = ticketBase
        // Each rank draws once past the last block, so the next operation's tickets start here in every rank.
        ticketBase += Int64(blocks + ranks)
        let homes = (0..<ranks).map(home)
        while true {
            let ticket = Int(catomic_add(word(.ticket), 1) - base)
            guard ticket < blocks else { break }
            let chunk = range.lowerBound + ticket * GradientExchange.block..<min(range.upperBound, range.lowerBound + (ticket + 1) * GradientExchange.block)
            sumChunk(chunk, into: homes[0], from: homes, scale: scale)
            for other in homes.dropFirst() { (other + chunk.lowerBound).update(from: homes[0] + chunk.lowerBound, count: chunk.count) }
        }
        try barrier(timeout: timeout)
    }

    /// Copies `root`'s home buffer over `range` into every other rank's: after a leader has summed its node's gradient
    /// with the other nodes' (MPI across nodes), its node's ranks take the result. Two barriers: the root's values are
    /// final; every rank has copied them (so the root may write its home again).
    public func shareHome(from root: Int = 0, within range: Range<Int>? = nil, timeout: Double = 10) throws {
        guard let rank else { preconditionFailure("the creator of an exchange does not take part in it") }
        let range = range ?? 0..<count
        try barrier(timeout: timeout)
        if rank != root { (home(rank) + range.lowerBound).update(from: home(root) + range.lowerBound, count: range.count) }
        try barrier(timeout: timeout)
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

    /// Marks the segment so that every rank stops waiting: a worker that fails calls it on its way out, and the creator
    /// on behalf of a worker it saw die.
    public func abort(onBehalfOf failed: Int? = nil) {
        _ = catomic_compare_exchange(word(.abort), 0, Int64((failed ?? rank ?? ranks) + 1))
    }

    /// Removes the segment's name (the processes that map it keep it); harmless when already removed.
    public func unlink() { shm_unlink(name) }

    // Each operation writes its half of the segment, passes a barrier, and reads; the next operation uses the other half
    // and its barrier proves every rank has finished reading this one, so one barrier between writing and reading suffices
    // for a broadcast, and an all-reduce needs one more between its two phases.

    /// Replaces `values` (this rank's floats, at most `count`, the same number in every rank) by their sum over every rank.
    public func allReduce(_ values: UnsafeMutableBufferPointer<Float>, timeout: Double = 10) throws {
        guard let rank else { preconditionFailure("the creator of an exchange does not take part in it") }
        let count = values.count
        precondition(count <= self.count, "\(count) values for an exchange of \(self.count)")
        let parity = operations % 2
        operations += 1
        slot(parity, rank).update(from: values.baseAddress!, count: count)
        try barrier(timeout: timeout)
        // Reduce-scatter: this rank's chunk, summed over the ranks in rank order, into its own slot.
        sumChunk(chunkRange(rank, of: count), into: slot(parity, rank), from: (0..<ranks).map { slot(parity, $0) }, scale: 1)
        try barrier(timeout: timeout)
        // All-gather: every chunk from the rank that summed it.
        for owner in 0..<ranks {
            let chunk = chunkRange(owner, of: count)
            guard !chunk.isEmpty else { continue }
            (values.baseAddress! + chunk.lowerBound).update(from: slot(parity, owner) + chunk.lowerBound, count: chunk.count)
        }
    }

    /// Replaces `values` in every rank by `root`'s (at most `count` floats, the same number in every rank): bit for bit.
    public func broadcast(_ values: UnsafeMutableBufferPointer<Float>, from root: Int = 0, timeout: Double = 10) throws {
        guard let rank else { preconditionFailure("the creator of an exchange does not take part in it") }
        precondition(values.count <= count && (0..<ranks).contains(root), "broadcast of \(values.count) values from rank \(root)")
        let parity = operations % 2
        operations += 1
        if rank == root { slot(parity, root).update(from: values.baseAddress!, count: values.count) }
        try barrier(timeout: timeout)
        if rank != root { values.baseAddress!.update(from: slot(parity, root), count: values.count) }
    }

    /// This rank's share of `range` when the ranks split a pass over a buffer between them (the optimiser's step, each
    /// rank updating one share of the parameters): contiguous, in rank order, whole 64-byte lines but for the last.
    public func share(of range: Range<Int>) -> Range<Int> {
        guard let rank else { preconditionFailure("the creator of an exchange does not take part in it") }
        return share(rank, of: range)
    }

    private func share(_ owner: Int, of range: Range<Int>) -> Range<Int> {
        let per = ((range.count + ranks - 1) / ranks + 15) / 16 * 16
        return min(range.lowerBound + owner * per, range.upperBound)..<min(range.lowerBound + (owner + 1) * per, range.upperBound)
    }

    /// Completes `values` over `range` in every rank from the others' shares (`share(of:)`): after each rank has
    /// computed its own share, every rank holds the same bits over the whole range. One barrier, as a broadcast.
    public func gatherShares(_ values: UnsafeMutableBufferPointer<Float>, within range: Range<Int>, timeout: Double = 10) throws {
        guard let rank else { preconditionFailure("the creator of an exchange does not take part in it") }
        precondition(range.lowerBound >= 0 && range.upperBound <= min(values.count, count), "range \(range) outside the exchange's \(count) floats")
        guard ranks > 1 else { return }
        let parity = operations % 2
        operations += 1
        let mine = share(rank, of: range)
        (slot(parity, rank) + mine.lowerBound).update(from: values.baseAddress! + mine.lowerBound, count: mine.count)
        try barrier(timeout: timeout)
        for owner in 0..<ranks where owner != rank {
            let theirs = share(owner, of: range)
            (values.baseAddress! + theirs.lowerBound).update(from: slot(parity, owner) + theirs.lowerBound, count: theirs.count)
        }
    }

    /// `target[i] = (sources[0][i] + sources[1][i] + ...) * scale` over `range`, summed in source order, a block at a
    /// time: the running sums stay in a small buffer the loops vectorise over, so each source is streamed once.
    private func sumChunk(_ range: Range<Int>, into target: UnsafeMutablePointer<Float>, from sources: [UnsafeMutablePointer<Float>], scale: Float) {
        let block = 2048
        withUnsafeTemporaryAllocation(of: Float.self, capacity: block) { sums in
            let sums = sums.baseAddress!
            var start = range.lowerBound
            while start < range.upperBound {
                let n = min(block, range.upperBound - start)
                sums.update(from: sources[0] + start, count: n)
                for source in sources.dropFirst() {
                    let s = source + start
                    for j in 0..<n { sums[j] += s[j] }
                }
                let t = target + start
                for j in 0..<n { t[j] = sums[j] * scale }
                start += n
            }
        }
    }

    private func chunkRange(_ owner: Int, of count: Int) -> Range<Int> {
        let per = (count + ranks - 1) / ranks
        return min(owner * per, count)..<min((owner + 1) * per, count)
    }

    /// Says this rank reached its next phase and waits, bounded, for every other rank to reach it.
    private func barrier(timeout: Double) throws {
        phase += 1
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
