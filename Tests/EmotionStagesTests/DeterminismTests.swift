import Foundation
import TestSupport
import XCTest

/// Every stage's output is a function of its inputs and params alone: the same bytes from two fresh `emotion`
/// processes, one of them on one core under a competing load and with another `-j`; and a run killed mid-way
/// by SIGKILL resumes to those bytes.
final class DeterminismTests: XCTestCase {
    /// The demo graph on a generated set with its planted faults (truncated, missing, silent, unannotated
    /// clips): every kind of outcome each stage writes.
    static let pipeline = DemoPipelineTests.pipeline
        .replacingOccurrences(of: "{seed: 3, dialogues: [1, 1, 1]", with: "{seed: 5, dialogues: [2, 1, 1]")
        .replacingOccurrences(of: "params: {frames: 3}", with: "params: {frames: 4}")
        + """

          shards:
            uses: shards
            map: faces
            join: [mel, {stage: clean, under: rows}]
            params: {shards: 2}
          shard_index:
            uses: shard_index
            deps: [shards, clean]
        """

    func emotion() throws -> String {
        let path = productsDirectory() + "/emotion"
        guard FileManager.default.isExecutableFile(atPath: path) else { throw XCTSkip("emotion is not built beside the tests at \(path)") }
        return path
    }

    /// Runs the pipeline in a fresh workspace under `folder` and returns every output file's bytes.
    func outputs(of pipeline: String, in folder: String, prefix: [String] = [], jobs: Int) throws -> [String: Data] {
        try FileManager.default.createDirectory(atPath: folder + "/data", withIntermediateDirectories: true)
        try Data(pipeline.utf8).write(to: URL(fileURLWithPath: folder + "/p.yaml"))
        let command = prefix + [try emotion(), "run", folder + "/p.yaml", "--workspace", folder + "/data", "-j", String(jobs)]
        let result = try shell(command[0], Array(command.dropFirst()))
        XCTAssertEqual(result.status, 0, result.err)
        return try outputFiles(under: folder + "/data/out/p")
    }

    func testEveryStageGivesTheSameBytesInAnyProcessUnderAnyLoad() throws {
        let folder = try TemporaryFolder()
        let quiet = try outputs(of: Self.pipeline, in: folder.file("quiet"), jobs: 2)
        let busy = try busyLoops()
        defer { for process in busy { process.terminate(); process.waitUntilExit() } }
        let oneCore = FileManager.default.isExecutableFile(atPath: "/usr/bin/taskset") ? ["/usr/bin/taskset", "-c", "0"] : []
        let loaded = try outputs(of: Self.pipeline, in: folder.file("loaded"), prefix: oneCore, jobs: 3)

        // The comparison is over real outputs of every stage, broken clips included.
        func count(_ suffix: String) -> Int { quiet.keys.filter { $0.hasSuffix(suffix) }.count }
        XCTAssertEqual(count("/probe.json"), 8, "7 planted clips and the unannotated one")
        XCTAssertEqual(count("/faces.json"), 8)
        XCTAssertGreaterThanOrEqual(count("/frames.npy"), 6, "every decodable clip's face frames")
        XCTAssertEqual(count("/mel.npy") + count("/mel.json"), 8)
        XCTAssertGreaterThan(count("/mel.json"), 0, "an unreadable clip's verdict")
        XCTAssertNotNil(quiet["clean/train.jsonl"])
        XCTAssertGreaterThan(quiet.keys.filter { $0.hasPrefix("shards/") && $0.hasSuffix(".safetensors") }.count, 0)
        XCTAssertNotNil(quiet["shard_index/train/index.json"])
        XCTAssertGreaterThan(quiet.keys.filter { $0.hasPrefix("synthesize/") && $0.hasSuffix(".mp4") }.count, 5)

        XCTAssertEqual(Set(loaded.keys), Set(quiet.keys))
        let differing = quiet.keys.filter { loaded[$0] != quiet[$0] }.sorted()
        XCTAssertEqual(differing, [], "outputs that differ between a quiet run and one on one core under load")
    }

    /// One clip's log-mel from eight fresh processes, half of them competing with a load on every core: one
    /// set of bytes (FFTW's timed planning gave five different ones in sixteen runs).
    func testLogMelIsTheSameInEveryProcess() throws {
        let folder = try TemporaryFolder()
        let emotion = try emotion()
        let synth = try shell(emotion, ["synth", "--out", folder.file("set"), "--seed", "4", "--dialogues", "1,0,0", "--utterances", "1",
                                        "--width", "160", "--height", "120", "--no-faults"])
        XCTAssertEqual(synth.status, 0, synth.err)
        var outputs: Set<Data> = []
        for run in 0..<8 {
            let busy = run % 2 == 1 ? try busyLoops() : []
            let result = try shell(emotion, ["mel", folder.file("set/train_splits/dia0_utt0.mp4"), "--out", folder.file("m\(run).npy")])
            for process in busy { process.terminate(); process.waitUntilExit() }
            XCTAssertEqual(result.status, 0, result.err)
            outputs.insert(try Data(contentsOf: URL(fileURLWithPath: folder.file("m\(run).npy"))))
        }
        XCTAssertEqual(outputs.count, 1, "different log-mel bytes from different processes")
        XCTAssertGreaterThan(outputs.first?.count ?? 0, 128 + 64 * 50 * 4, "a second or more of speech")
    }

    /// faces and mel over real clips, killed with SIGKILL after a seeded number of finished units, twice,
    /// then resumed: the resumed run reuses what was finished, redoes the rest, and ends with the bytes of an
    /// uninterrupted run.
    func testKilledRealStagesResumeToTheSameBytes() throws {
        let folder = try TemporaryFolder()
        let emotion = try emotion()
        let clips = folder.file("clips")
        let synth = try shell(emotion, ["synth", "--out", clips, "--seed", "9", "--dialogues", "3,0,0", "--utterances", "2",
                                        "--width", "320", "--height", "240", "--no-faults"])
        XCTAssertEqual(synth.status, 0, synth.err)
        let pipeline = """
            stages:
              faces: {uses: faces, map: {path: clips, glob: "**/*.mp4"}, params: {frames: 6}}
              mel: {uses: mel, map: {path: clips, glob: "**/*.mp4"}}
            """
        func workspace(_ name: String) throws -> String {
            let data = folder.file(name)
            try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: data + "/clips", withDestinationPath: clips)
            return data
        }
        try Data(pipeline.utf8).write(to: URL(fileURLWithPath: folder.file("p.yaml")))
        let reference = try workspace("reference")
        XCTAssertEqual(try shell(emotion, ["run", folder.file("p.yaml"), "--workspace", reference]).status, 0)
        let expected = try outputFiles(under: reference + "/out/p")
        let units = 2 * 6
        XCTAssertEqual(expected.keys.filter { $0.hasSuffix("frames.npy") }.count, 6)

        var generator = SeededGenerator(seed: 21)
        for trial in 0..<2 {
            let data = try workspace("killed\(trial)")
            for kill in 1...2 {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: emotion)
                process.arguments = ["run", folder.file("p.yaml"), "--workspace", data, "-j", "1"]
                process.standardOutput = FileHandle.nullDevice
                process.standardError = FileHandle.nullDevice
                try process.run()
                let moment = kill * 2 + Int.random(in: 0...1, using: &generator)
                XCTAssertTrue(try killMidRun(process, workspace: data, afterEntries: moment), "trial \(trial), kill \(kill) at \(moment) units")
            }
            let resumed = try shell(emotion, ["run", folder.file("p.yaml"), "--workspace", data])
            XCTAssertEqual(resumed.status, 0, resumed.err)
            let executed = try XCTUnwrap(unitsExecuted(String(decoding: resumed.out, as: UTF8.self)), "the run's summary line")
            XCTAssertTrue((1..<units).contains(executed), "trial \(trial): redid \(executed) of \(units) units; some must be reused, some redone")
            let outputs = try outputFiles(under: data + "/out/p")
            XCTAssertEqual(Set(outputs.keys), Set(expected.keys))
            XCTAssertEqual(expected.keys.filter { outputs[$0] != expected[$0] }.sorted(), [], "trial \(trial)")
        }
    }
}
