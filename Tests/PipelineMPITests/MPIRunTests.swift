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

    func testPreprocessingOverTwoRanksEqualsALocalRunByteForByteAndAKilledRankLosesNothing() throws {
        guard let mpirun = ChildProcess.find("mpirun") else { throw XCTSkip("mpirun is not installed (make setup installs openmpi-bin)") }
        let folder = try TemporaryFolder()
        let emotion = productsDirectory() + "/emotion"
        let pipeline = folder.file("p.yaml")
        try Self.pipeline.write(toFile: pipeline, atomically: true, encoding: .utf8)
        let agent = try mpiAgent(in: folder)

        let local = try shell(emotion, ["run", pipeline, "--workspace", folder.file("local"), "-j2"])
        XCTAssertEqual(local.status, 0, local.err)
        let rootAllowed = ["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"]
        let arguments = ["--oversubscribe", "--mca", "routed", "direct", "--mca", "rtc", "^hwloc", "--mca", "plm_rsh_agent", agent, "--host", "nodea:1,nodeb:1",
                         "-np", "2", emotion, "run", "--mpi", pipeline, "--workspace", folder.file("mpi"), "-j1"]
        let spread = try shell(mpirun, arguments, environment: rootAllowed)
        XCTAssertEqual(spread.status, 0, spread.err)
        let said = spread.err.split(separator: "\n").first { $0.hasPrefix("mpi: units on the other ranks: rank 1 on ") } ?? ""
        let ran = said.split(separator: " ").last.flatMap { Int($0) } ?? 0
        XCTAssertGreaterThan(ran, 0, "rank 1 ran no unit: \(spread.err)")

        let tree = { (out: String) in (try? outputFiles(under: out + "/p")) ?? [:] }
        let (mine, theirs) = (tree(folder.file("local/out")), tree(folder.file("mpi/out")))
        XCTAssertGreaterThan(mine.count, 100, "outputs of the local run: \(mine.keys.sorted().prefix(5))")
        XCTAssertEqual(Set(theirs.keys), Set(mine.keys))
        for (path, bytes) in mine where theirs[path] != bytes { XCTFail("\(path) differs between the MPI run and the local run") }

        let rerun = try shell(emotion, ["run", pipeline, "--workspace", folder.file("mpi")])
        XCTAssertEqual(rerun.status, 0, rerun.err)
        XCTAssertTrue(String(decoding: rerun.out, as: UTF8.self).contains("0 ran, 4 up to date; 0 units executed"), String(decoding: rerun.out, as: UTF8.self))

        // Rank 1 killed (-9) mid-run: the launcher ends the job; a one-machine rerun finishes it to the same bytes.
        let killed = folder.file("killed")
        let job = Process()
        job.executableURL = URL(fileURLWithPath: mpirun)
        job.arguments = Array(arguments.dropLast(3)) + ["--workspace", killed, "-j1"]
        job.environment = ProcessInfo.processInfo.environment.merging(rootAllowed) { $1 }
        job.standardError = FileHandle.nullDevice
        job.standardOutput = FileHandle.nullDevice
        try job.run()
        var victim: Int32?
        let deadline = Date(timeIntervalSinceNow: 60)
        while victim == nil && job.isRunning && Date() < deadline {
            usleep(50_000)
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: killed + "/cache/entries").count) ?? 0
            if entries >= 25 { victim = rank1(of: killed) }
        }
        if let victim { kill(victim, SIGKILL) }
        job.waitUntilExit()
        XCTAssertNotNil(victim, "rank 1 was not found mid-run")
        XCTAssertNotEqual(job.terminationStatus, 0, "the job went on without rank 1")
        let finished = try shell(emotion, ["run", pipeline, "--workspace", killed])
        XCTAssertEqual(finished.status, 0, finished.err)
        let after = tree(killed + "/out")
        XCTAssertEqual(Set(after.keys), Set(mine.keys))
        for (path, bytes) in mine where after[path] != bytes { XCTFail("\(path) differs after the killed MPI run was finished on one machine") }
    }

    /// A train unit that starts its own MPI job (`launcher: mpi`) inside `emotion run --mpi`: the launcher it starts must
    /// not take itself for part of the run's job. Its model equals the same training with local workers.
    func testATrainUnitLaunchesItsOwnMPIJobInsideAnMPIRun() throws {
        guard let mpirun = ChildProcess.find("mpirun") else { throw XCTSkip("mpirun is not installed (make setup installs openmpi-bin)") }
        let folder = try TemporaryFolder()
        let emotion = productsDirectory() + "/emotion"
        let pipeline = """
            stages:
              synthesize: {uses: synthesize, params: {dialogues: [2, 1, 1], utterances: 2, width: 320, height: 180}}
              probe: {uses: probe, map: {stage: synthesize, glob: "**/*.mp4"}}
              clean: {uses: clean, deps: [synthesize, probe]}
              faces: {uses: faces, map: {stage: synthesize, glob: "**/*.mp4"}, params: {frames: 2, size: 32}}
              mel: {uses: mel, map: {stage: synthesize, glob: "**/*.mp4"}}
              shards: {uses: shards, map: faces, join: [mel, {stage: clean, under: rows}], params: {shards: 2}}
              shard_index: {uses: shard_index, deps: [shards, clean]}
              train: {uses: train, deps: [shard_index, shards], params: {workers: 2, batch: 2, threads: 1, epochs: 1, mel_frames: 16, warmup: 1,
                                                                        max_steps: 2, launcher: LAUNCHER, mpi_command: "mpirun --oversubscribe"}}
            """
        try pipeline.replacingOccurrences(of: "LAUNCHER", with: "local").write(toFile: folder.file("local.yaml"), atomically: true, encoding: .utf8)
        try pipeline.replacingOccurrences(of: "LAUNCHER", with: "mpi").write(toFile: folder.file("p.yaml"), atomically: true, encoding: .utf8)
        let local = try shell(emotion, ["run", folder.file("local.yaml"), "--workspace", folder.file("local")])
        XCTAssertEqual(local.status, 0, local.err)
        let nested = try shell(mpirun, ["--oversubscribe", "-np", "2", emotion, "run", "--mpi", folder.file("p.yaml"), "--workspace", folder.file("mpi"), "-j1"],
                               environment: ["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"])
        XCTAssertEqual(nested.status, 0, nested.err)
        let model = { (root: String) in FileManager.default.contents(atPath: root + "/out/p/train/last.safetensors") }
        XCTAssertNotNil(model(folder.file("mpi")))
        XCTAssertEqual(model(folder.file("mpi")), FileManager.default.contents(atPath: folder.file("local/out/local/train/last.safetensors")))
    }

    /// The process of `emotion run --mpi` that is MPI rank 1 of the run in `workspace`.
    private func rank1(of workspace: String) -> Int32? {
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), let command = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"),
                  String(decoding: command, as: UTF8.self).contains(workspace),
                  let environment = FileManager.default.contents(atPath: "/proc/\(entry)/environ") else { continue }
            if environment.split(separator: 0).contains(Data("OMPI_COMM_WORLD_RANK=1".utf8)) { return pid }
        }
        return nil
    }
}
