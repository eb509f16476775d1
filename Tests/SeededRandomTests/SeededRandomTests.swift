import SeededRandom
import XCTest

/// The generator every dataset and data order follows from: SplitMix64 to the bit, and its derived draws.
final class SeededRandomTests: XCTestCase {
    /// Oracle: the SplitMix64 reference sequence for seed 1234567 (Vigna's splitmix64.c, as published with xoshiro).
    func testTheStreamIsSplitMix64() {
        var random = SeededRandom(seed: UInt64(1_234_567))
        XCTAssertEqual((0..<5).map { _ in random.next() },
                       [6_457_827_717_110_365_317, 3_203_168_211_198_807_973, 9_817_491_932_198_370_423, 4_593_380_528_125_082_431,
                        16_408_922_859_458_223_821])
    }

    func testNamedPartsAreIndependentStreamsThatRepeat() {
        var a = SeededRandom(seed: 5, 1, 2), b = SeededRandom(seed: 5, 1, 2), c = SeededRandom(seed: 5, 2, 1)
        let first = (0..<4).map { _ in a.next() }
        XCTAssertEqual(first, (0..<4).map { _ in b.next() })
        XCTAssertNotEqual(first, (0..<4).map { _ in c.next() })
    }

    func testWeightedPicksFollowTheirWeights() {
        var random = SeededRandom(seed: 9)
        var counts = [0, 0, 0]
        for _ in 0..<30_000 { counts[random.pick(weights: [1, 0, 2])] += 1 }
        XCTAssertEqual(counts[1], 0, "a zero weight is never drawn")
        XCTAssertEqual(Double(counts[2]) / Double(counts[0]), 2, accuracy: 0.1)
        for _ in 0..<1000 {
            let value = random.uniform(-1, 3)
            XCTAssertTrue(value >= -1 && value < 3)
        }
    }
}
