import SeededRandom

/// Which records each worker reads in an epoch, as PyTorch's `DistributedSampler` decides it: one
/// permutation from (seed, epoch), the same in every worker; padded at its end with its own first records
/// until it divides evenly, so every rank runs the same number of steps; rank r takes every N-th record
/// starting at r. (The permutation is this project's generator's, not torch.randperm's.)
public enum EpochOrder {
    /// Record positions for `rank` of `ranks`; in index order, unpadded, when `shuffle` is false and there is one rank.
    public static func positions(count: Int, seed: UInt64, epoch: Int, rank: Int = 0, ranks: Int = 1, shuffle: Bool) -> [Int] {
        precondition(ranks >= 1 && (0..<ranks).contains(rank), "rank \(rank) of \(ranks)")
        guard count > 0 else { return [] }
        var order = Array(0..<count)
        if shuffle {
            var random = SeededRandom(seed: seed &+ UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15)
            for index in stride(from: count - 1, to: 0, by: -1) {
                order.swapAt(index, Int(random.next() % UInt64(index + 1)))
            }
        }
        let total = (count + ranks - 1) / ranks * ranks
        while order.count < total { order += order.prefix(total - order.count) }
        return stride(from: rank, to: total, by: ranks).map { order[$0] }
    }
}
