import Foundation
@testable import Pipeline
import XCTest

/// Issue 31: the runner counts the cores a unit keeps busy (a training's workers x threads) against `-j`, so trainings
/// no longer share cores with each other or with per-clip units, and no unit is passed over for ever.
final class CoreSchedulingTests: XCTestCase {
    func testACoreCountComesFromTheDeclaredParams() throws {
        let kind = StageKind.whole("k", version: 1, summary: "", params: [
            ParamSpec("workers", .int, default: .int(2), help: ""), ParamSpec("threads", .int, default: .int(1), help: ""),
        ]) { _ in }.using(.product(of: ["workers", "threads"]))
        func cores(_ values: [String: ParamValue], machine: Int) throws -> Int { kind.cores.count(try kind.params(values, for: "s"), machine: machine) }
        XCTAssertEqual(try cores([:], machine: 8), 2)
        XCTAssertEqual(try cores(["workers": .int(3), "threads": .int(2)], machine: 8), 6)
        XCTAssertEqual(try cores(["workers": .int(3), "threads": .int(2)], machine: 4), 4, "never more than the runner has")
        XCTAssertEqual(try cores(["threads": .int(0)], machine: 6), 6, "threads 0: the machine's cores shared among the workers")
        XCTAssertEqual(CoreUse.all.count(try kind.params([:], for: "s"), machine: 3), 3)
        XCTAssertEqual(CoreUse.one.count(try kind.params([:], for: "s"), machine: 3), 1)

        // The declaration carries it to a front end that has no code.
        let decoded = try JSONDecoder().decode(StageKind.self, from: JSONEncoder().encode(kind))
        XCTAssertEqual(decoded.cores, .product(of: ["workers", "threads"]))
        let plain = try JSONDecoder().decode(StageKind.self, from: JSONEncoder().encode(StageKind.whole("p", version: 1, summary: "") { _ in }))
        XCTAssertEqual(plain.cores, .one)
    }

    func testUnitsNeverTakeMoreCoresThanThePoolHasAndStartInOrder() {
        final class Ledger: @unchecked Sendable {
            let lock = NSLock()
            var busy = 0, most = 0, started: [String] = []
            func enter(_ name: String, _ cores: Int) { lock.lock(); busy += cores; most = max(most, busy); started.append(name); lock.unlock() }
            func leave(_ cores: Int) { lock.lock(); busy -= cores; lock.unlock() }
        }
        let ledger = Ledger()
        let pool = WorkerPool<String>(threads: 2)
        defer { pool.shutdown() }
        let units: [(String, Int)] = [("a", 1), ("train1", 2), ("b", 1), ("c", 1), ("train2", 3), ("d", 1), ("e", 1)]
        for (name, cores) in units {
            pool.submit(cores: cores) {
                let taken = min(cores, 2)
                ledger.enter(name, taken)
                usleep(30_000)
                ledger.leave(taken)
                return name
            }
        }
        var finished: [String] = []
        while finished.count < units.count, let name = pool.next(timeout: 10) { finished.append(name) }
        XCTAssertEqual(finished.count, units.count)
        XCTAssertEqual(ledger.most, 2, "at most the pool's two cores busy at once")
        XCTAssertEqual(ledger.started, units.map(\.0), "queue order kept: a two-core unit is not passed over by the ones behind it")
    }
}
