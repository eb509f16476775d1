import ChildProcesses
import Foundation
import TestSupport
import XCTest

/// The MPI wrapper in a real job: `mpirun -np 3` of a probe that sums, broadcasts, gathers and splits, each result
/// checked against what three ranks must give by hand.
final class MPITests: XCTestCase {
    func testCollectivesOverThreeRanksGiveTheHandWorkedResults() throws {
        guard let mpirun = ChildProcess.find("mpirun") else { throw XCTSkip("mpirun is not installed (make setup installs openmpi-bin)") }
        let probe = productsDirectory() + "/mpi-probe"
        let run = try shell(mpirun, ["--oversubscribe", "-np", "3", probe],
                            environment: ["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"])
        XCTAssertEqual(run.status, 0, run.err)
        let lines = String(decoding: run.out, as: UTF8.self).split(separator: "\n")
            .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        XCTAssertEqual(lines.compactMap { $0["rank"] as? Int }.sorted(), [0, 1, 2])
        for line in lines {
            XCTAssertEqual(line["size"] as? Int, 3)
            XCTAssertEqual(line["sum"] as? [Double], [6, 60], "1 + 2 + 3 and 10 + 20 + 30 on every rank")
            XCTAssertEqual(line["broadcast"] as? String, "rank zero")
            XCTAssertEqual(line["names"] as? [String], ["rank0", "rank1", "rank2"], "gathered in rank order")
            XCTAssertEqual(line["max"] as? Int, 14)
            XCTAssertEqual(line["node_size"] as? Int, 3, "one machine: every rank shares its memory")
        }
    }
}
