import Foundation
import ParallelWork
import XCTest

final class ParallelWorkTests: XCTestCase {
    struct Planted: Error, Equatable { var index: Int }

    func testEveryIndexOnceAndResultsInOrder() throws {
        for threads in [1, 2, 7] {
            let squares = try ParallelWork.map(Array(0..<1000), threads: threads) { $0 * $0 }
            XCTAssertEqual(squares, (0..<1000).map { $0 * $0 }, "\(threads) threads")
        }
        XCTAssertEqual(try ParallelWork.map([Int](), threads: 4) { $0 }, [])
    }

    func testRunsOnSeveralThreadsAtOnce() throws {
        final class Gate: @unchecked Sendable {
            let lock = NSLock()
            var inside = 0, most = 0
        }
        let gate = Gate()
        try ParallelWork.forEach(8, threads: 2) { _ in
            gate.lock.lock(); gate.inside += 1; gate.most = max(gate.most, gate.inside); gate.lock.unlock()
            Thread.sleep(forTimeInterval: 0.02)
            gate.lock.lock(); gate.inside -= 1; gate.lock.unlock()
        }
        XCTAssertEqual(gate.most, 2)
    }

    /// The first error is rethrown, and no index is started after it.
    func testFirstErrorStopsTheRest() {
        final class Seen: @unchecked Sendable {
            let lock = NSLock()
            var indices: [Int] = []
        }
        for threads in [1, 3] {
            let seen = Seen()
            XCTAssertThrowsError(try ParallelWork.forEach(1000, threads: threads) { index in
                seen.lock.lock(); seen.indices.append(index); seen.lock.unlock()
                if index == 5 { throw Planted(index: index) }
                Thread.sleep(forTimeInterval: 0.002)
            }) { XCTAssertEqual($0 as? Planted, Planted(index: 5)) }
            XCTAssertLessThan(seen.indices.count, 6 + 3 * threads, "\(threads) threads: at most the ones already claimed ran")
        }
    }
}
