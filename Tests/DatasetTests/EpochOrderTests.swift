import Dataset
import XCTest

/// Epoch orders as PyTorch's DistributedSampler makes them: N ranks together read every record, each the same
/// number of steps, the padding taken from the start of the permutation.
final class EpochOrderTests: XCTestCase {
    func testRanksCoverEveryRecordWithEqualShares() {
        for (count, ranks) in [(10, 3), (9, 3), (1, 4), (101, 8)] {
            let shares = (0..<ranks).map { EpochOrder.positions(count: count, seed: 7, epoch: 2, rank: $0, ranks: ranks, shuffle: true) }
            XCTAssertEqual(Set(shares.map(\.count)).count, 1, "equal steps for \(count) over \(ranks)")
            XCTAssertEqual(shares[0].count, (count + ranks - 1) / ranks)
            XCTAssertEqual(Set(shares.flatMap { $0 }), Set(0..<count), "\(count) over \(ranks)")
            // Interleaved back together, the ranks give the padded permutation: the first records repeated at its end.
            let total = shares[0].count * ranks
            let merged = (0..<total).map { shares[$0 % ranks][$0 / ranks] }
            XCTAssertEqual(Array(merged[count...]), Array(merged.prefix(total - count)))
        }
    }

    func testTheSameSeedAndEpochGiveTheSameOrderAndAnotherEpochAnother() {
        let a = EpochOrder.positions(count: 50, seed: 1, epoch: 0, shuffle: true)
        XCTAssertEqual(a, EpochOrder.positions(count: 50, seed: 1, epoch: 0, shuffle: true))
        XCTAssertNotEqual(a, EpochOrder.positions(count: 50, seed: 1, epoch: 1, shuffle: true))
        XCTAssertNotEqual(a, Array(0..<50))
        XCTAssertEqual(EpochOrder.positions(count: 5, seed: 1, epoch: 3, shuffle: false), [0, 1, 2, 3, 4], "evaluation reads in index order")
    }
}
