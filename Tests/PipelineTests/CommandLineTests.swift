import Foundation
import TestSupport
import XCTest

/// The real `emotion` command line (through the probe, which adds the test kinds): help, exit codes,
/// graph output, the workspace lock, and `kill -9` at random moments followed by a resume.
final class CommandLineTests: XCTestCase {
    static let slowPipeline = """
        stages:
          gen:
            uses: test.generate
            params: {count: 120, size: 4096}
          per:
            uses: test.digest
            map: gen
            params: {sleep_ms: 4}
          again:
            uses: test.digest
            map: per
          all:
            uses: test.concat
            deps: [again, per]
        """

    /// Starts a command in the background, its output discarded.
    static func start(_ executable: String, _ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    func testHelpForEverySubcommand() throws {
        let probe = try probePath()
        for command in [[], ["run"], ["status"], ["dag"], ["gc"], ["kinds"], ["synth"], ["clean"]] {
            let result = try Sandbox.shell(probe, command + ["--help"])
            XCTAssertEqual(result.status, 0, "\(command)")
            XCTAssertTrue(result.out.contains("USAGE: emotion"), result.out)
        }
        let run = try Sandbox.shell(probe, ["run", "--help"]).out
        for option in ["--until", "--force", "--dry-run", "-j", "--wait", "--workspace"] {
            XCTAssertTrue(run.contains(option), "run --help mentions \(option)")
        }
    }

    func testErrorsGoToStandardErrorWithExitCode() throws {
        let sandbox = try Sandbox()
        let file = try sandbox.pipelineFile("stages:\n  a:\n    uses: test.generate\n    params: {count: x}\n")
        let result = try Sandbox.shell(try probePath(), ["run", file, "--workspace", sandbox.data])
        XCTAssertEqual(result.status, 1)
        XCTAssertEqual(result.err, "error: \(file):4:21: stage 'a': param 'count' must be an integer, got \"x\"\n")
    }

    func testDagFormats() throws {
        let sandbox = try Sandbox()
        let file = try sandbox.pipelineFile(Self.slowPipeline)
        let probe = try probePath()
        let text = try Sandbox.shell(probe, ["dag", file]).out
        XCTAssertTrue(text.contains("again  [test.digest v1, map]\n    => per item of per"), text)
        let dot = try Sandbox.shell(probe, ["dag", file, "--format", "dot"]).out
        XCTAssertTrue(dot.hasPrefix("digraph \"p\" {") && dot.contains("\"per\" -> \"all\";"), dot)
        let mermaid = try Sandbox.shell(probe, ["dag", file, "--format", "mermaid"]).out
        XCTAssertTrue(mermaid.hasPrefix("flowchart LR") && mermaid.contains("==>|map|"), mermaid)
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: "/usr/bin/dot"),
                          "Graphviz's dot is not installed (apt-get install graphviz): the dot output was checked as text, not rendered")
        try Data(dot.utf8).write(to: URL(fileURLWithPath: sandbox.root + "/p.dot"))
        let rendered = try Sandbox.shell("/usr/bin/dot", ["-Tsvg", "-o", sandbox.root + "/p.svg", sandbox.root + "/p.dot"])
        XCTAssertEqual(rendered.status, 0, "Graphviz accepts the dot output: \(rendered.err)")
    }

    /// Runs the slow pipeline, kills it with SIGKILL at seeded moments while it works, resumes, and compares
    /// every output with an uninterrupted run's. Each kill must land mid-run: the run was still going, and the
    /// resumed run reuses some units and redoes others.
    func testKillNineAtRandomMomentsThenResumeGivesIdenticalOutputs() throws {
        let probe = try probePath()
        let reference = try Sandbox()
        let referenceFile = try reference.pipelineFile(Self.slowPipeline)
        XCTAssertEqual(try Sandbox.shell(probe, ["run", referenceFile, "--workspace", reference.data, "-j", "2"]).status, 0)
        let expected = try reference.outputs()
        XCTAssertEqual(expected.count, 120 + 120 + 120 + 1)
        let units = 1 + 120 + 120 + 1

        var generator = SeededGenerator(seed: 11)
        for trial in 0..<5 {
            let sandbox = try Sandbox()
            let file = try sandbox.pipelineFile(Self.slowPipeline)
            // Three kills, each once the run has recorded a seeded number of units more than before.
            let moments = (0..<3).map { _ in Int.random(in: 2...70, using: &generator) }.sorted()
            for (kill, moment) in moments.enumerated() {
                let process = try Self.start(probe, ["run", file, "--workspace", sandbox.data, "-j", "2"])
                XCTAssertTrue(try killMidRun(process, workspace: sandbox.data, afterEntries: moment * (kill + 1)), "trial \(trial), kill \(kill)")
            }
            let resumed = try Sandbox.shell(probe, ["run", file, "--workspace", sandbox.data])
            XCTAssertEqual(resumed.status, 0, "trial \(trial): \(resumed.err)")
            let executed = try XCTUnwrap(unitsExecuted(resumed.out), resumed.out)
            XCTAssertTrue((1..<units).contains(executed), "trial \(trial): the resumed run redid \(executed) of \(units) units, so the kills landed mid-run")
            let outputs = try sandbox.outputs()
            let differing = Set(outputs.keys).union(expected.keys).filter { outputs[$0] != expected[$0] }.sorted()
            XCTAssertEqual(differing, [], "trial \(trial): outputs differ from an uninterrupted run")
            let status = try Sandbox.shell(probe, ["status", file, "--workspace", sandbox.data]).out
            XCTAssertFalse(status.contains("stale"), status)
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: sandbox.data + "/cache/tmp")
            XCTAssertEqual(leftovers, [], "the resumed run cleared the killed runs' work folders")
        }
    }

    /// Units run in worker processes: an item that segfaults, aborts, outgrows its memory limit or hangs past
    /// its time limit costs only itself, named with its signal or limit; the others finish, the run exits 1,
    /// and a rerun retries exactly the failed items.
    func testCrashingItemsCostOnlyThemselves() throws {
        let probe = try probePath()
        let sandbox = try Sandbox()
        let contents = ["a": "fine", "b": "SEGV", "c": "ABORT", "d": "ALLOCATE", "e": "HANG", "f": "also fine"]
        for (name, text) in contents { try sandbox.write("items/\(name).txt", text) }
        let file = try sandbox.pipelineFile("""
            stages:
              copy:
                uses: test.crash
                map: {path: items, glob: "*.txt"}
                limits: {seconds: 3, memory_mb: 300}
            """)
        let crashing = try shell("/usr/bin/env", ["PIPELINE_TEST_CRASH=1", probe, "run", file, "--workspace", sandbox.data, "-j", "2"])
        let err = crashing.err
        XCTAssertEqual(crashing.status, 1, err)
        for (item, words) in [("b", "died of SIGSEGV"), ("c", "died of SIGABRT"), ("d", "its memory limit: 300 MiB"), ("e", "stopped after its time limit of 3 s")] {
            XCTAssertTrue(err.contains("item '\(item).txt': ") && err.components(separatedBy: "\n").contains { $0.contains("item '\(item).txt'") && $0.contains(words) },
                          "\(item): \(words) in: \(err)")
        }
        XCTAssertTrue(err.contains("4 problem(s)"), err)

        let retry = try Sandbox.shell(probe, ["run", file, "--workspace", sandbox.data])
        XCTAssertEqual(retry.status, 0, retry.err)
        XCTAssertEqual(unitsExecuted(retry.out), 4, "exactly the four failed items; the others finished the first time: \(retry.out)")
        for (name, text) in contents { XCTAssertEqual(try sandbox.read("out/p/copy/\(name).txt/copy.txt"), text) }
    }

    /// A worker process killed with SIGKILL in the middle of a unit costs that unit; the run goes on with a
    /// new worker, and a rerun ends with the bytes of an uninterrupted run.
    func testKillingAWorkerCostsOneUnit() throws {
        let probe = try probePath()
        let reference = try Sandbox()
        let pipeline = Self.slowPipeline.replacingOccurrences(of: "sleep_ms: 4", with: "sleep_ms: 40")
        XCTAssertEqual(try Sandbox.shell(probe, ["run", try reference.pipelineFile(pipeline), "--workspace", reference.data]).status, 0)
        let sandbox = try Sandbox()
        let file = try sandbox.pipelineFile(pipeline)
        let run = Process()
        run.executableURL = URL(fileURLWithPath: probe)
        run.arguments = ["run", file, "--workspace", sandbox.data, "-j", "2"]
        let errors = Pipe()
        run.standardOutput = FileHandle.nullDevice
        run.standardError = errors
        try run.run()
        // Once the slow stage is under way, kill one of the run's workers.
        var workers: [Int32] = []
        let deadline = Date(timeIntervalSinceNow: 30)
        while workers.isEmpty && run.isRunning && Date() < deadline {
            usleep(20_000)
            // Each of the run's threads lists the children it started.
            let tasks = "/proc/\(run.processIdentifier)/task"
            let children = ((try? FileManager.default.contentsOfDirectory(atPath: tasks)) ?? [])
                .map { (try? String(contentsOfFile: "\(tasks)/\($0)/children", encoding: .utf8)) ?? "" }.joined(separator: " ")
            let entries = (try? FileManager.default.subpathsOfDirectory(atPath: sandbox.data + "/cache/entries").filter { $0.hasSuffix(".json") }.count) ?? 0
            if entries > 20 { workers = children.split(separator: " ").compactMap { Int32($0) } }
        }
        let worker = try XCTUnwrap(workers.first, "the run has worker processes")
        kill(worker, SIGKILL)
        let err = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        run.waitUntilExit()
        XCTAssertEqual(run.terminationStatus, 1, err)
        XCTAssertTrue(err.contains("the worker process died of SIGKILL"), err)
        XCTAssertTrue(err.contains("1 problem(s)"), "only the unit the worker held: \(err)")

        let rerun = try Sandbox.shell(probe, ["run", file, "--workspace", sandbox.data])
        XCTAssertEqual(rerun.status, 0, rerun.err)
        XCTAssertEqual(unitsExecuted(rerun.out), 1 + 120 + 1, "the killed unit, then the two stages that waited on its stage: \(rerun.out)")
        let outputs = try sandbox.outputs(), expected = try reference.outputs()
        XCTAssertEqual(Set(outputs.keys).union(expected.keys).filter { outputs[$0] != expected[$0] }, [])
    }

    /// Eight workers start at once, five times over: each sees the end of its work and exits, so every run ends
    /// (a worker that inherited another's request pipe kept it open, and the run waited for it forever).
    func testManyWorkersStartTogetherAndAllEnd() throws {
        let probe = try probePath()
        let sandbox = try Sandbox()
        for index in 0..<16 { try sandbox.write("items/\(index).txt", "item \(index)") }
        let file = try sandbox.pipelineFile("stages:\n  copy: {uses: test.crash, map: {path: items, glob: \"*.txt\"}}\n")
        for round in 0..<5 {
            let run = try Self.start(probe, ["run", file, "--workspace", sandbox.data, "-j", "8", "--force", "copy"])
            let deadline = Date(timeIntervalSinceNow: 60)
            while run.isRunning && Date() < deadline { usleep(10_000) }
            if run.isRunning { kill(run.processIdentifier, SIGKILL) }
            run.waitUntilExit()
            XCTAssertEqual(run.terminationReason, .exit, "round \(round): the run did not end within 60 s")
            XCTAssertEqual(run.terminationStatus, 0, "round \(round)")
        }
    }

    func testASecondRunIsRefusedOrWaits() throws {
        let probe = try probePath()
        let sandbox = try Sandbox()
        let file = try sandbox.pipelineFile(Self.slowPipeline)
        let first = try Self.start(probe, ["run", file, "--workspace", sandbox.data, "-j", "1"])
        // Wait until the first run holds the lock (its note appears in the lock file).
        for _ in 0..<200 where ((try? String(contentsOfFile: sandbox.data + "/cache/lock", encoding: .utf8)) ?? "").isEmpty {
            usleep(10_000)
        }
        let refused = try Sandbox.shell(probe, ["run", file, "--workspace", sandbox.data])
        XCTAssertEqual(refused.status, 75)
        XCTAssertTrue(refused.err.contains("is in use by pid \(first.processIdentifier)") && refused.err.contains("--wait"), refused.err)

        let waited = try Sandbox.shell(probe, ["run", file, "--workspace", sandbox.data, "--wait"])
        XCTAssertEqual(waited.status, 0, waited.err)
        XCTAssertTrue(waited.err.contains("waiting for it to finish"), waited.err)
        first.waitUntilExit()
        XCTAssertEqual(first.terminationStatus, 0)
        XCTAssertTrue(waited.out.contains("0 units executed"), "the first run did all the work: \(waited.out)")
    }

    func testStaleLockOfADeadRunIsTakenOver() throws {
        let probe = try probePath()
        let sandbox = try Sandbox()
        let file = try sandbox.pipelineFile("stages:\n  gen: {uses: test.generate}\n")
        try Self.start(probe, ["run", file, "--workspace", sandbox.data, "--wait"]).waitUntilExit()
        // What a run killed while holding the lock leaves behind: its note, and no holder.
        try "pid 999999 (emotion run pipelines/p.yaml), started 2026-01-01T00:00:00Z\n".write(toFile: sandbox.data + "/cache/lock", atomically: false, encoding: .utf8)
        let result = try Sandbox.shell(probe, ["run", file, "--workspace", sandbox.data])
        XCTAssertEqual(result.status, 0)
        XCTAssertTrue(result.err.contains("took over the workspace lock") && result.err.contains("pid 999999"), result.err)
        XCTAssertEqual(try String(contentsOfFile: sandbox.data + "/cache/lock", encoding: .utf8), "", "a clean exit leaves no note")
    }

    func testGarbageCollectionKeepsWhatRecordsReference() throws {
        let probe = try probePath()
        let sandbox = try Sandbox()
        let file = try sandbox.pipelineFile("stages:\n  gen: {uses: test.generate, params: {count: 4, seed: 1}}\n  per: {uses: test.digest, map: gen}\n")
        XCTAssertEqual(try Sandbox.shell(probe, ["run", file, "--workspace", sandbox.data]).status, 0)
        try sandbox.pipelineFile("stages:\n  gen: {uses: test.generate, params: {count: 4, seed: 2}}\n  per: {uses: test.digest, map: gen}\n")
        XCTAssertEqual(try Sandbox.shell(probe, ["run", file, "--workspace", sandbox.data]).status, 0)
        let before = try sandbox.outputs()
        let gc = try Sandbox.shell(probe, ["gc", "--workspace", sandbox.data])
        XCTAssertEqual(gc.status, 0)
        // seed 1's 4 files, 4 summaries, and the 5 entries that named them.
        XCTAssertTrue(gc.out.hasPrefix("dropped 5 entries and 8 files"), gc.out)
        XCTAssertEqual(try sandbox.outputs(), before)
        XCTAssertTrue(try Sandbox.shell(probe, ["run", file, "--workspace", sandbox.data]).out.contains("0 units executed"))

        // A damaged run record: gc cannot tell that pipeline's outputs from garbage, so it removes nothing and says why.
        let record = sandbox.data + "/cache/runs/" + (try FileManager.default.contentsOfDirectory(atPath: sandbox.data + "/cache/runs").first { $0.hasSuffix(".json") })!
        let whole = try Data(contentsOf: URL(fileURLWithPath: record))
        try whole.prefix(whole.count / 2).write(to: URL(fileURLWithPath: record))
        let objects = try FileManager.default.subpathsOfDirectory(atPath: sandbox.data + "/cache/objects").count
        let refused = try Sandbox.shell(probe, ["gc", "--workspace", sandbox.data])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.err.contains("gc removed nothing: the run record \(record) (not a run record)"), refused.err)
        XCTAssertEqual(try FileManager.default.subpathsOfDirectory(atPath: sandbox.data + "/cache/objects").count, objects)
    }
}
