import ChildProcesses
import Foundation
import ModelContract
import TestSupport
@testable import Training
import XCTest

/// Training under Open MPI (`launcher: mpi`) with real mpirun jobs on this machine: several "machines" are separate
/// Open MPI nodes launched through a stand-in for ssh, first as processes of this host, then as two network namespaces
/// joined by a veth pair, so the exchange between machines crosses a network link. Each must give the bits of the same
/// number of workers on one machine. (Several Open MPI daemons on one host need `routed direct` and no `rtc hwloc`,
/// whose shared topology segment they would race for: orted crashed in hwloc_shmem_topology_write 2 runs in 8 without.)
extension TrainingTests {
    /// Skips without mpirun; lets Open MPI run as root (the CI runs as root).
    private func requireMPI() throws {
        guard ChildProcess.find("mpirun") != nil else { throw XCTSkip("mpirun is not installed (make setup installs openmpi-bin)") }
        setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1)
        setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1)
    }

    /// Training as 2 workers, 4 steps, on one machine (`command` nil) or through an MPI launcher on `nodes` machines.
    private func job(_ name: String, nodes: Int = 1, command: String? = nil) -> TrainingJob {
        var training = job(settings(workers: 2, maxSteps: 4), name)
        if let command {
            training.launch.launcher = .mpi
            training.launch.nodes = nodes
            training.launch.command = command
        }
        return training
    }

    private func contents(_ path: String) -> Data? { FileManager.default.contents(atPath: folder.file(path)) }

    func testTwoMachinesOfOneWorkerEqualOneMachineOfTwoAndResume() throws {
        try requireMPI()
        let before = segments()
        try job("local").run()
        // mpirun -np 2 on this one machine: both ranks on one node, its shared memory alone.
        try job("one-node", command: "mpirun --oversubscribe").run()
        // Two Open MPI nodes on this host: each rank leads its own node, and the sum crosses MPI.
        let twoNodes = "mpirun --oversubscribe --mca routed direct --mca rtc ^hwloc --mca plm_rsh_agent \(try mpiAgent(in: folder)) --host nodea:1,nodeb:1"
        try job("two-nodes", nodes: 2, command: twoNodes).run()
        for name in ["one-node", "two-nodes"] {
            XCTAssertEqual(contents(name + "/last.safetensors"), contents("local/last.safetensors"), "\(name): last.safetensors differs from 2 local workers'")
            XCTAssertEqual(contents(name + "/digests/rank-1.txt"), contents("local/digests/rank-1.txt"), "\(name): rank 1's parameters differ at some step")
        }
        // A rank killed on the second machine after step 3: the job ends naming it; the rerun resumes from the last
        // checkpoint to the bits of the whole run. That is step 3's (the epoch's end) or, when the launcher killed rank 0
        // while it was still writing it, step 2's: the write is atomic, so the older one stands.
        var interrupted = job("interrupted", nodes: 2, command: twoNodes)
        interrupted.fault = "1:3:kill"
        XCTAssertThrowsError(try interrupted.run()) { error in
            XCTAssertTrue("\(error)".contains("rank 1 on nodeb died of SIGKILL"), "\(error)")
        }
        XCTAssertEqual(segments(), before, "a shared-memory segment outlived the job")
        interrupted.fault = nil
        try interrupted.run()
        let log = try String(contentsOfFile: folder.file("interrupted/train.log"), encoding: .utf8)
        XCTAssertTrue(log.contains("resuming from the checkpoint at step 3") || log.contains("resuming from the checkpoint at step 2"), log)
        XCTAssertEqual(contents("interrupted/last.safetensors"), contents("local/last.safetensors"), "the resumed run differs from the whole run")
    }

    /// Two network namespaces joined by a veth pair stand for two hosts, each with its own address and name; Open MPI
    /// is told to use that link alone, so the gradients really cross it.
    func testTwoHostsOverAVethLinkEqualOneMachineAndAKilledRankIsNamed() throws {
        try requireMPI()
        guard getuid() == 0 else { throw XCTSkip("network namespaces need root") }
        let tag = String(getpid() % 100_000)
        let (a, b) = ("emo-a\(tag)", "emo-b\(tag)")
        let ip = "/usr/sbin/ip"
        let created = try shell(ip, ["netns", "add", a])
        guard created.status == 0 else { throw XCTSkip("cannot create a network namespace here: \(created.err)") }
        _ = try shell(ip, ["netns", "add", b])
        defer { for namespace in [a, b] { _ = try? shell(ip, ["netns", "delete", namespace]) } }
        for arguments in [["link", "add", "ev\(tag)a", "type", "veth", "peer", "name", "ev\(tag)b"],
                          ["link", "set", "ev\(tag)a", "netns", a], ["link", "set", "ev\(tag)b", "netns", b],
                          ["-n", a, "addr", "add", "10.77.0.1/24", "dev", "ev\(tag)a"], ["-n", b, "addr", "add", "10.77.0.2/24", "dev", "ev\(tag)b"],
                          ["-n", a, "link", "set", "ev\(tag)a", "up"], ["-n", b, "link", "set", "ev\(tag)b", "up"],
                          ["-n", a, "link", "set", "lo", "up"], ["-n", b, "link", "set", "lo", "up"]] {
            let result = try shell(ip, arguments)
            XCTAssertEqual(result.status, 0, "ip \(arguments.joined(separator: " ")): \(result.err)")
        }
        let received = { () throws -> Int in
            let counter = try shell(ip, ["netns", "exec", b, "cat", "/sys/class/net/ev\(tag)b/statistics/rx_bytes"])
            return Int(String(decoding: counter.out, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        }
        // mpirun runs in the first host's namespace; the agent starts each host's daemon in its own.
        let command = "/usr/sbin/ip netns exec \(a) mpirun --oversubscribe --mca routed direct --mca rtc ^hwloc --mca plm_rsh_agent \(try mpiAgent(in: folder, namespaces: true)) "
            + "--mca oob_tcp_if_include 10.77.0.0/24 --mca btl self,vader,tcp --mca btl_tcp_if_include 10.77.0.0/24 --host \(a):1,\(b):1"
        try job("local").run()
        let bytesBefore = try received()
        try job("hosts", nodes: 2, command: command).run()
        XCTAssertEqual(contents("hosts/last.safetensors"), contents("local/last.safetensors"), "two hosts' model differs from 2 local workers'")
        XCTAssertEqual(contents("hosts/digests/rank-1.txt"), contents("local/digests/rank-1.txt"))
        // Each step's gradient (every trainable float) reached the second host over the link.
        let gradientBytes = Replica.parameterCount(fusion: .crossAttention, classes: referenceClasses.count) * 4
        XCTAssertGreaterThan(try received() - bytesBefore, 4 * gradientBytes, "the gradients did not cross the veth link")

        let before = segments()
        var killed = job("killed", nodes: 2, command: command)
        killed.fault = "1:2:kill"
        let started = Date()
        XCTAssertThrowsError(try killed.run()) { error in
            XCTAssertTrue("\(error)".contains("rank 1 on \(b) died of SIGKILL"), "\(error)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 60)
        XCTAssertEqual(segments(), before, "a shared-memory segment outlived the job")
    }
}
