import Foundation
import TestSupport
import XCTest

/// The `emotion` front end links the runner alone and learns the stage kinds from its worker program: it
/// must list, plan and run exactly what the worker program would, and hand over the commands that compute.
final class FrontEndTests: XCTestCase {
    private var cache: TemporaryFolder!

    override func setUpWithError() throws {
        cache = try TemporaryFolder()
    }

    private func product(_ name: String) throws -> String {
        let path = productsDirectory() + "/" + name
        guard FileManager.default.isExecutableFile(atPath: path) else { throw XCTSkip("\(name) is not built beside the tests at \(path)") }
        return path
    }

    /// Runs a program with the test's own cache folder, so that what it learned earlier cannot decide the result.
    private func run(_ program: String, _ arguments: [String], worker: String? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        var environment = ["XDG_CACHE_HOME": cache.path]
        if let worker { environment["EMOTION_WORKER"] = worker }
        let result = try shell(program, arguments, environment: environment)
        XCTAssertEqual(result.status, 0, "\(program) \(arguments): \(result.err)", file: file, line: line)
        return String(decoding: result.out, as: UTF8.self)
    }

    /// The shared libraries a program loads, as the dynamic loader resolves them (`ldd`).
    private func libraries(_ program: String) throws -> [String] {
        let result = try shell("/usr/bin/ldd", [program])
        XCTAssertEqual(result.status, 0, result.err)
        return String(decoding: result.out, as: UTF8.self).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
    }

    func testTheFrontEndLinksNoMediaOrNumericLibrary() throws {
        let heavy = ["libavformat", "libavcodec", "libswscale", "libswresample", "libdlib", "libfftw3f", "libdnnl", "libopenblas",
                     "libcairo", "libespeak-ng", "libgomp"]
        let front = try libraries(try product("emotion"))
        for name in heavy {
            XCTAssertFalse(front.contains { $0.hasPrefix(name) }, "emotion loads \(name): \(front)")
        }
        let worker = try libraries(try product("emotion-worker"))
        for name in ["libavformat", "libdlib", "libfftw3f", "libdnnl"] {
            XCTAssertTrue(worker.contains { $0.hasPrefix(name) }, "emotion-worker should load \(name): \(worker)")
        }
    }

    func testKindsAreTheWorkerProgramsKinds() throws {
        let emotion = try product("emotion"), worker = try product("emotion-worker")
        XCTAssertEqual(try run(emotion, ["kinds"]), try run(worker, ["kinds"]))
        let declared = try run(emotion, ["kinds", "--json"])
        XCTAssertEqual(declared, try run(worker, ["kinds", "--json"]))
        for kind in ["synthesize", "probe", "clean", "faces", "mel"] {
            XCTAssertTrue(declared.contains("\"name\":\"\(kind)\""), "\(kind) in \(declared)")
        }
    }

    /// The worker program is asked once per build of it: an unchanged one is answered from the cache, a
    /// rebuilt one (another modification time) is asked again.
    func testDeclarationsAreCachedPerBuildOfTheWorkerProgram() throws {
        let emotion = try product("emotion")
        let copy = cache.file("probe-copy")
        try FileManager.default.copyItem(atPath: try product("pipeline-probe"), toPath: copy)
        XCTAssertTrue(try run(emotion, ["kinds"], worker: copy).contains("test.digest (v1, per item): per-item checksum"))
        let folder = cache.path + "/emotion"
        let files = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasPrefix("kinds-") }
        XCTAssertEqual(files.count, 1)
        // An answer from the cache is believed: edit it, and the front end says what the edit says.
        let cached = folder + "/" + files[0]
        let text = try String(contentsOfFile: cached, encoding: .utf8).replacingOccurrences(of: "per-item checksum", with: "edited in the cache")
        try Data(text.utf8).write(to: URL(fileURLWithPath: cached))
        XCTAssertTrue(try run(emotion, ["kinds"], worker: copy).contains("test.digest (v1, per item): edited in the cache"))
        // A rebuilt worker program is asked again.
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -3600)], ofItemAtPath: copy)
        XCTAssertTrue(try run(emotion, ["kinds"], worker: copy).contains("test.digest (v1, per item): per-item checksum"))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasPrefix("kinds-") }.count, 2)
    }

    /// Declarations that travelled as JSON give the same params and keys as the code they came from: a run
    /// by the program that has the code is up to date for the front end, and the front end's run (units in
    /// the worker program, or in it with `--in-process`) produces the same bytes.
    func testTheFrontEndPlansAndRunsWhatTheWorkerProgramWould() throws {
        let emotion = try product("emotion"), probe = try product("pipeline-probe")
        let root = try TemporaryFolder()
        try FileManager.default.createDirectory(atPath: root.path + "/data", withIntermediateDirectories: true)
        let pipeline = root.file("p.yaml")
        try Data("""
        stages:
          gen:
            uses: test.generate
            params: {count: 4, size: 100, note: "2.0"}
          each:
            uses: test.digest
            map: gen
            params: {salt: "s"}
          all:
            uses: test.concat
            deps: [each]

        """.utf8).write(to: URL(fileURLWithPath: pipeline))
        let workspace = ["--workspace", root.path + "/data"]
        _ = try run(probe, ["run", pipeline] + workspace)
        let first = try outputFiles(under: root.path + "/data/out/p")
        XCTAssertFalse(first.isEmpty)
        let status = try run(emotion, ["status", pipeline] + workspace, worker: probe)
        XCTAssertEqual(status.split(separator: "\n").filter { $0.hasSuffix("up to date") || $0.contains("up to date (") }.count, 3, status)

        for mode in [[], ["--in-process"]] {
            _ = try run(emotion, ["run", pipeline, "--force", "gen", "--force", "each", "--force", "all"] + mode + workspace, worker: probe)
            XCTAssertEqual(try outputFiles(under: root.path + "/data/out/p"), first, "\(mode)")
        }
    }

    func testComputeCommandsAreHandedToTheWorkerProgram() throws {
        let emotion = try product("emotion")
        let help = try run(emotion, ["mel", "--help"])
        XCTAssertTrue(help.contains("--n-mels"), help)
        XCTAssertTrue(try run(emotion, ["--help"]).contains("synth, clean, faces, mel, forward"))
        let missing = try shell(emotion, ["synth", "--help"], environment: ["EMOTION_WORKER": cache.file("no-such-program")])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.err.contains("no-such-program"), missing.err)
    }
}

/// A closed set in a pipeline file (fusion, launcher, class weights, which weights to evaluate) is checked when the file
/// is read, by the front end from the declarations it learnt, so a wrong value stops the run before any stage does.
final class ChoiceParamTests: XCTestCase {
    func testAWrongChoiceNamesTheStageTheFieldAndTheChoicesBeforeAnyStageRuns() throws {
        let root = try TemporaryFolder()
        let emotion = productsDirectory() + "/emotion"
        let cases = [
            ("train", "fusion: fused", #"stage 'train': param 'fusion' must be one of cross_attention, transformer, concat, visual, audio, got "fused""#),
            ("train", "launcher: slurm", #"stage 'train': param 'launcher' must be one of local, mpi, got "slurm""#),
            ("train", #"class_weights: "1,2""#, #"stage 'train': param 'class_weights' must be one of none, balanced, or a list of numbers, got "1,2""#),
            ("evaluate", "model: middle", #"stage 'evaluate': param 'model' must be one of best, last, got "middle""#),
            // Numbers out of their range (issue 27): refused when read, not in every item at run time.
            ("train", "dropout: 1.5", "stage 'train': param 'dropout' must be at least 0 and below 1, got 1.5"),
            ("train", "workers: 0", "stage 'train': param 'workers' must be between 1 and 64, got 0"),
            ("train", "batch: 0", "stage 'train': param 'batch' must be at least 1, got 0"),
            ("train", "class_weights: [1, -2]", "stage 'train': param 'class_weights' must be at least 0, got -2"),
            ("evaluate", "bootstrap: -1", "stage 'evaluate': param 'bootstrap' must be at least 1, got -1"),
        ]
        for (stage, param, expected) in cases {
            let params = [stage == "train" ? param : "", stage == "evaluate" ? param : ""]
            try Data("""
            stages:
              train: {uses: train, deps: [index, shards], params: {\(params[0])}}
              evaluate: {uses: evaluate, deps: [train, index, shards], params: {\(params[1])}}

            """.utf8).write(to: URL(fileURLWithPath: root.file("p.yaml")))
            for folder in ["index", "shards"] { try FileManager.default.createDirectory(atPath: root.file("data/\(folder)"), withIntermediateDirectories: true) }
            let run = try shell(emotion, ["run", root.file("p.yaml"), "--workspace", root.file("data")])
            XCTAssertNotEqual(run.status, 0, param)
            XCTAssertTrue(run.err.contains(expected), "\(param): \(run.err)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: root.file("data/cache/entries")), "\(param): a stage ran")
        }
        // A list of numbers is a valid class_weights.
        try Data("stages:\n  train: {uses: train, deps: [index, shards], params: {class_weights: [1, 2.5]}}\n".utf8).write(to: URL(fileURLWithPath: root.file("p.yaml")))
        let planned = try shell(emotion, ["run", root.file("p.yaml"), "--workspace", root.file("data"), "--dry-run"])
        XCTAssertEqual(planned.status, 0, planned.err)
    }
}

/// Output that cannot be written is not success, and failed commentary does not stop a run.
final class LostOutputTests: XCTestCase {
    /// Runs `program` with its standard output or error on /dev/full, the way a full disk refuses writes.
    private func run(_ program: String, _ arguments: [String], full descriptor: Int32) throws -> (status: Int32, err: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        let full = try XCTUnwrap(FileHandle(forWritingAtPath: "/dev/full"))
        let err = Pipe()
        if descriptor == 1 { (process.standardOutput, process.standardError) = (full, err) } else { process.standardError = full }
        try process.run()
        let text = descriptor == 1 ? String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) : ""
        process.waitUntilExit()
        return (process.terminationStatus, text)
    }

    func testAFailedWriteToStandardOutputIsAnErrorAndOneToStandardErrorIsNoTrap() throws {
        let emotion = productsDirectory() + "/emotion"
        for program in [emotion, productsDirectory() + "/emotion-worker"] {
            let kinds = try run(program, ["kinds"], full: 1)
            XCTAssertEqual(kinds.status, 74, "\(program) kinds >/dev/full")
            XCTAssertTrue(kinds.err.contains("standard output could not be written"), kinds.err)
        }
        let root = try TemporaryFolder()
        try Data("stages:\n  gen: {uses: test.generate, params: {count: 3}}\n".utf8).write(to: URL(fileURLWithPath: root.file("p.yaml")))
        let probe = productsDirectory() + "/pipeline-probe"
        let run = try self.run(probe, ["run", root.file("p.yaml"), "--workspace", root.file("data")], full: 2)
        XCTAssertEqual(run.status, 0, "a run whose progress cannot be written still runs")
        XCTAssertFalse(try outputFiles(under: root.file("data/out/p")).isEmpty)
    }
}

final class FileNameEncodingTests: XCTestCase {
    /// Issue 27, case 10: a clip named in Latin-1 (`caf\xE9.mp4`) dropped out of a pipeline's inputs without a word, and
    /// `faces`/`mel` called it "no such file". Now both refuse it, naming its bytes and what to do.
    func testAFileNameThatIsNotUTF8IsRefusedNamedByItsBytes() throws {
        let root = try TemporaryFolder()
        let latin1 = "\"$(printf 'caf\\351.mp4')\""
        let made = try shell("/bin/sh", ["-c", "mkdir -p data/clips && printf x > data/clips/good.mp4 && printf x > data/clips/\(latin1)"], cwd: root.path)
        XCTAssertEqual(made.status, 0, made.err)
        for (program, command) in [(productsDirectory() + "/emotion", "faces"), (productsDirectory() + "/emotion-worker", "mel")] {
            let run = try shell("/bin/sh", ["-c", "exec \"$0\" \(command) data/clips/\(latin1) --out o", program], cwd: root.path)
            XCTAssertEqual(run.status, 64, "\(program) \(command): \(run.err)")
            XCTAssertTrue(run.err.contains("argument 2 ('data/clips/caf\\xE9.mp4') is not UTF-8 text"), run.err)
        }
        try Data("stages:\n  d: {uses: test.digest, map: {path: clips, glob: \"*.mp4\"}}\n".utf8).write(to: URL(fileURLWithPath: root.file("p.yaml")))
        let run = try shell(productsDirectory() + "/pipeline-probe", ["run", root.file("p.yaml"), "--workspace", root.file("data")])
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.err.contains("data/clips/caf\\xE9.mp4: the file name is not UTF-8 text, so it cannot be an input"), run.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: root.file("data/out/p/d")), "nothing ran on the inputs less one")
    }
}

/// Issue 27 (weaker cases): a file error is said as its path and the system's reason, not as an NSCocoaErrorDomain
/// dump; `status`, `gc` and `verify` refuse a mistyped workspace instead of creating it.
final class FileErrorTests: XCTestCase {
    func testAFileErrorNamesThePathAndTheReason() throws {
        let root = try TemporaryFolder()
        let file = root.file("a-file")
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        let synth = try shell(productsDirectory() + "/emotion", ["synth", "--out", file + "/below/ds", "--dialogues", "1,0,0"])
        XCTAssertEqual(synth.status, 1)
        XCTAssertTrue(synth.err.hasPrefix("error: \(file)/below") && synth.err.contains("\(file) is a file, not a folder"), synth.err)
        XCTAssertFalse(synth.err.contains("NSCocoaErrorDomain"), synth.err)

        try Data("stages:\n  gen: {uses: synthesize}\n".utf8).write(to: URL(fileURLWithPath: root.file("p.yaml")))
        let mistyped = root.file("dta")
        for arguments in [["status", root.file("p.yaml")], ["gc"], ["verify"]] {
            let run = try shell(productsDirectory() + "/emotion", arguments + ["--workspace", mistyped])
            XCTAssertEqual(run.status, 1, "\(arguments)")
            XCTAssertTrue(run.err.contains("error: no workspace at \(mistyped): check --workspace"), run.err)
            XCTAssertFalse(FileManager.default.fileExists(atPath: mistyped), "\(arguments) made the mistyped workspace")
        }
    }
}
