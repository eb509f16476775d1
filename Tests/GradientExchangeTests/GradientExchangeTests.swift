import Foundation
import GradientExchange
import TestSupport
import XCTest

/// The exchange across real processes: every rank ends each step with the rank-ordered sum (staged, and in place in
/// its home buffer), with the broadcast rank's values, and with every rank's share of a pass, bit for bit the same; a rank that dies is noticed by the others within their bound, naming it; the segment's name is gone
/// once all have mapped it.
final class GradientExchangeTests: XCTestCase {
    private func probe() throws -> String {
        let path = productsDirectory() + "/exchange-probe"
        guard FileManager.default.isExecutableFile(atPath: path) else { throw XCTSkip("exchange-probe is not built beside the tests at \(path)") }
        return path
    }

    private func start(_ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try probe())
        process.arguments = arguments
        process.standardError = Pipe()
        try process.run()
        return process
    }

    func testEveryRankHoldsTheRankOrderedSumAndTheBroadcastValues() throws {
        let folder = try TemporaryFolder()
        let (ranks, count, steps) = (3, 40_001, 4)  // three of reduceHome's blocks, the last one short
        let name = "/emotion-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let exchange = try GradientExchange(creating: name, ranks: ranks, count: count)
        let workers = try (0..<ranks).map { try start([name, String($0), String(steps), folder.file("out\($0)")]) }
        try exchange.unlinkWhenAllAttached(timeout: 10)
        XCTAssertEqual(shm_open(name, O_RDONLY, 0), -1, "the name is gone once every rank has mapped the segment")
        for worker in workers { worker.waitUntilExit() }
        XCTAssertEqual(workers.map(\.terminationStatus), [0, 0, 0])
        let results = try (0..<ranks).map { try Data(contentsOf: URL(fileURLWithPath: folder.file("out\($0)"))) }
        let gathered = count - 8
        XCTAssertEqual(results[0].count, steps * (3 * count + gathered) * 4)
        XCTAssertEqual(results[1], results[0])
        XCTAssertEqual(results[2], results[0])
        let floats = results[0].withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        for step in 0..<steps {
            let first = step * (3 * count + gathered)
            let (staged, home, broadcast, shares) = (first, first + count, first + 2 * count, first + 3 * count)
            for index in 0..<gathered {
                XCTAssertEqual(floats[shares + index], Float(index + 5) * 0.25 + Float(step), "gathered shares, step \(step), value \(index + 5)")
            }
            for index in stride(from: 0, to: count, by: 37) {
                var sum = Float(0)
                let values = (0..<ranks).map { Float(sin(Double($0 * 7919 + step * 104_729 + index))) * 1000 }
                for rank in 0..<ranks { sum = rank == 0 ? values[rank] : sum + values[rank] }
                XCTAssertEqual(floats[staged + index].bitPattern, sum.bitPattern, "step \(step), value \(index)")
                XCTAssertEqual(floats[home + index].bitPattern, (sum * 0.5).bitPattern, "home buffers, step \(step), value \(index)")
                XCTAssertEqual(floats[broadcast + index].bitPattern, values[step % ranks].bitPattern, "broadcast, step \(step), value \(index)")
            }
        }
    }

    func testADeadRankIsNoticedAndNamed() throws {
        let folder = try TemporaryFolder()
        let name = "/emotion-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let exchange = try GradientExchange(creating: name, ranks: 3, count: 64)
        let started = Date()
        let workers = try (0..<3).map { try start([name, String($0), "5", folder.file("out\($0)"), $0 == 2 ? "2" : "-1", "1"]) }
        try exchange.unlinkWhenAllAttached(timeout: 10)
        for worker in workers { worker.waitUntilExit() }
        XCTAssertEqual(workers[2].terminationReason, .uncaughtSignal)
        XCTAssertLessThan(Date().timeIntervalSince(started), 8, "the others stop at their bound, not later")
        for survivor in workers.prefix(2) {
            XCTAssertEqual(survivor.terminationStatus, 1)
            let message = String(decoding: (survivor.standardError as! Pipe).fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            XCTAssertTrue(message.contains("rank(s) 2 did not arrive") || message.contains("gave up"), message)
        }
    }
}
