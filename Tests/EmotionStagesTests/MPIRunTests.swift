import ChildProcesses
import Foundation
import TestSupport
import XCTest

/// `emotion run --mpi` under a real mpirun: rank 0 plans and records, the other rank runs units in its own worker
/// processes, both writing into one workspace. The two ranks are separate Open MPI nodes (started through a stand-in for
/// ssh on this host; several Open MPI daemons on one host need `routed direct` and no `rtc hwloc`, whose shared
/// topology segment they would race for: orted crashed in hwloc_shmem_topology_write 2 runs in 8 without). The outputs must be a one-machine run's bytes, and a one-machine rerun must find them up to date.
final class MPIRunTests: XCTestCase {
    static let pipeline = """
        stages:
          synthesize: {uses: synthesize, params: {dialogues: [3, 1, 2], utterances: 3, width: 320, height: 180}}
          probe: {uses: probe, map: {stage: synthesize, glob: "**/*.mp4"}}
          faces: {uses: faces, map: {stage: synthesize, glob: "**/*.mp4"}, params: {frames: 2, size: 32}}
          mel: {uses: mel, map: {stage: synthesize, glob: "**/*.mp4"}}
        """

    func testPreprocessingOverTwoRanksEqualsALocalRunByteForByte() throws {
        guard let mpirun = ChildProcess.find("mpirun") else { throw XCTSkip("mpirun is not installed (make setup installs openmpi-bin)") }
        let folder = try TemporaryFolder()
        let emotion = productsDirectory() + "/emotion"
        let pipeline = folder.file("p.yaml")
        try Self.pipeline.write(toFile: pipeline, atomically: true, encoding: .utf8)
        let agent = folder.file("agent.sh")
        try "#!/bin/sh\nwhile [ $# -gt 0 ]; do case \"$1\" in -*) shift;; *) break;; esac; done\nshift\nexec sh -c \"$*\"\n"
            .write(toFile: agent, atomically: true, encoding: .utf8)
        chmod(agent, 0o755)

        let local = try shell(emotion, ["run", pipeline, "--workspace", folder.file("local"), "-j2"])
        XCTAssertEqual(local.status, 0, local.err)
        let spread = try shell(mpirun, ["--oversubscribe", "--mca", "routed", "direct", "--mca", "rtc", "^hwloc", "--mca", "plm_rsh_agent", agent, "--host", "nodea:1,nodeb:1", "-np", "2",
                                        emotion, "run", "--mpi", pipeline, "--workspace", folder.file("mpi"), "-j1"],
                               environment: ["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"])
        XCTAssertEqual(spread.status, 0, spread.err)
        let said = spread.err.split(separator: "\n").first { $0.hasPrefix("mpi: units on the other ranks: rank 1 on ") } ?? ""
        let ran = said.split(separator: " ").last.flatMap { Int($0) } ?? 0
        XCTAssertGreaterThan(ran, 0, "rank 1 ran no unit: \(spread.err)")

        let tree = { (root: String) -> [String: Data] in
            var files: [String: Data] = [:]
            for case let path as String in FileManager.default.enumerator(atPath: root)! {
                var directory: ObjCBool = false
                if FileManager.default.fileExists(atPath: root + "/" + path, isDirectory: &directory), !directory.boolValue {
                    files[path] = FileManager.default.contents(atPath: root + "/" + path)
                }
            }
            return files
        }
        let (mine, theirs) = (tree(folder.file("local/out")), tree(folder.file("mpi/out")))
        XCTAssertGreaterThan(mine.count, 100, "outputs of the local run: \(mine.keys.sorted().prefix(5))")
        XCTAssertEqual(Set(theirs.keys), Set(mine.keys))
        for (path, bytes) in mine where theirs[path] != bytes { XCTFail("\(path) differs between the MPI run and the local run") }

        let rerun = try shell(emotion, ["run", pipeline, "--workspace", folder.file("mpi")])
        XCTAssertEqual(rerun.status, 0, rerun.err)
        XCTAssertTrue(String(decoding: rerun.out, as: UTF8.self).contains("0 ran, 4 up to date; 0 units executed"), String(decoding: rerun.out, as: UTF8.self))
    }
}
