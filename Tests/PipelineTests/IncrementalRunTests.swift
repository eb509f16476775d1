import Foundation
import Pipeline
import XCTest

/// The runner redoes exactly what changed: nothing on a no-op run, one item when one file changes,
/// a stage and its descendants when a param changes, nothing at all on `touch`.
final class IncrementalRunTests: XCTestCase {
    static let pipeline = """
        stages:
          per:
            uses: test.digest
            map: {path: clips, glob: "**/*.mp4"}
            params: {salt: a}
          all:
            uses: test.concat
            deps: [per]
          other:
            uses: test.generate
            params: {count: 3}
          tail:
            uses: test.concat
            deps: [other]
        """

    func makeClips(_ sandbox: Sandbox, count: Int) throws {
        for index in 0..<count {
            try sandbox.write(String(format: "clips/dia%d/utt%03d.mp4", index / 100, index), "clip \(index)\n")
        }
        try sandbox.write("clips/notes.txt", "not a clip")
    }

    func testNoOpRerunExecutesNothingAndReadsNoFile() throws {
        let sandbox = try Sandbox()
        try makeClips(sandbox, count: 20)
        let first = try sandbox.run(Self.pipeline)
        XCTAssertEqual(first.stage("per")?.executed, 20, "the glob selects the 20 clips, not notes.txt")
        XCTAssertEqual(first.executed, 23)
        let before = try sandbox.outputs()

        let second = try sandbox.run(Self.pipeline)
        XCTAssertEqual(second.executed, 0)
        XCTAssertEqual(second.bytesHashed, 0, "the stat cache vouches for every input")
        XCTAssertTrue(second.stages.allSatisfy { $0.state == .upToDate })
        XCTAssertEqual(try sandbox.outputs(), before)
        XCTAssertTrue(try sandbox.status(Self.pipeline).values.allSatisfy(\.upToDate))
    }

    func testChangingOneOfAThousandItemsRecomputesOneItem() throws {
        let sandbox = try Sandbox()
        try makeClips(sandbox, count: 1000)
        XCTAssertEqual(try sandbox.run(Self.pipeline).stage("per")?.executed, 1000)

        try sandbox.write("clips/dia4/utt417.mp4", "clip 417, re-encoded\n")
        let status = try sandbox.status(Self.pipeline)
        XCTAssertEqual(status["per"]?.upToDate, false)
        XCTAssertEqual(status["per"]?.reasons, ["1 item changed input: dia4/utt417.mp4"])
        XCTAssertEqual(status["other"]?.upToDate, true)

        let rerun = try sandbox.run(Self.pipeline)
        XCTAssertEqual(rerun.stage("per")?.executed, 1)
        XCTAssertEqual(rerun.stage("per")?.cached, 999)
        XCTAssertEqual(rerun.stage("all")?.executed, 1, "the whole stage below sees a different input")
        XCTAssertEqual(rerun.stage("other")?.state, .upToDate)
        XCTAssertEqual(rerun.stage("tail")?.state, .upToDate)
        XCTAssertEqual(rerun.executed, 2)
        let summary = try sandbox.read("out/p/per/dia4/utt417.mp4/summary.txt")
        XCTAssertTrue(summary.contains("utt417.mp4 21 "), summary)
        XCTAssertTrue(try sandbox.read("out/p/all/all.txt").contains(summary))
    }

    func testTouchWithoutContentChangeRerunsNothing() throws {
        let sandbox = try Sandbox()
        try makeClips(sandbox, count: 10)
        _ = try sandbox.run(Self.pipeline)
        let path = sandbox.data + "/clips/dia0/utt003.mp4"
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: 60)], ofItemAtPath: path)
        let rerun = try sandbox.run(Self.pipeline)
        XCTAssertEqual(rerun.executed, 0)
        XCTAssertEqual(rerun.filesHashed, 1, "the touched file is re-read once, and its digest is unchanged")
        XCTAssertEqual(try sandbox.run(Self.pipeline).filesHashed, 0, "and then remembered with its new time")
    }

    func testAnExecutionParamStaysOutOfTheKey() throws {
        let sandbox = try Sandbox()
        try makeClips(sandbox, count: 3)
        _ = try sandbox.run(Self.pipeline)
        let elsewhere = Self.pipeline.replacingOccurrences(of: "salt: a", with: "salt: a, host: node7")
        XCTAssertEqual(try sandbox.status(elsewhere)["per"]?.upToDate, true, "an execution param changed the stage's key")
        XCTAssertEqual(try sandbox.run(elsewhere).executed, 0)
        let salted = Self.pipeline.replacingOccurrences(of: "salt: a", with: "salt: b, host: node7")
        XCTAssertEqual(try sandbox.status(salted)["per"]?.reasons.first, "param 'salt' changed: \"a\" -> \"b\"")
    }

    func testParamChangeRerunsThatStageAndItsDescendantsOnly() throws {
        let sandbox = try Sandbox()
        try makeClips(sandbox, count: 10)
        _ = try sandbox.run(Self.pipeline)
        let changed = Self.pipeline.replacingOccurrences(of: "salt: a", with: "salt: b")
        let status = try sandbox.status(changed)
        XCTAssertEqual(status["per"]?.reasons.first, "param 'salt' changed: \"a\" -> \"b\"")
        XCTAssertEqual(status["all"]?.reasons, ["waits on stale upstream 'per'"])
        XCTAssertEqual(status["other"]?.upToDate, true)

        let rerun = try sandbox.run(changed)
        XCTAssertEqual(rerun.stage("per")?.executed, 10)
        XCTAssertEqual(rerun.stage("all")?.executed, 1)
        XCTAssertEqual(rerun.stage("other")?.executed, 0)
        XCTAssertEqual(rerun.stage("tail")?.executed, 0)

        // Going back to the old value finds the old outputs in the cache.
        let back = try sandbox.run(Self.pipeline)
        XCTAssertEqual(back.executed, 0)
        XCTAssertTrue(try sandbox.read("out/p/all/all.txt").contains("salt=a"))
    }

    func testIdenticalUpstreamOutputStopsTheRerun() throws {
        let sandbox = try Sandbox()
        try makeClips(sandbox, count: 2)
        _ = try sandbox.run(Self.pipeline)
        // A different param value that produces byte-identical files: `tail` must not rerun.
        let same = Self.pipeline.replacingOccurrences(of: "params: {count: 3}", with: "params: {count: 3, note: relabelled}")
        let rerun = try sandbox.run(same)
        XCTAssertEqual(rerun.stage("other")?.executed, 1)
        XCTAssertEqual(rerun.stage("tail")?.state, .upToDate)
    }

    func testRemovingAnItemRemovesItsOutputsDownstream() throws {
        let sandbox = try Sandbox()
        try makeClips(sandbox, count: 5)
        _ = try sandbox.run(Self.pipeline)
        XCTAssertNotNil(try sandbox.outputs()["per/dia0/utt002.mp4/summary.txt"])
        try FileManager.default.removeItem(atPath: sandbox.data + "/clips/dia0/utt002.mp4")
        XCTAssertEqual(try sandbox.status(Self.pipeline)["per"]?.reasons, ["1 item gone (outputs dropped): dia0/utt002.mp4"])
        let rerun = try sandbox.run(Self.pipeline)
        XCTAssertEqual(rerun.stage("per")?.executed, 0)
        XCTAssertEqual(rerun.stage("per")?.removed, 1)
        XCTAssertEqual(rerun.stage("all")?.executed, 1)
        XCTAssertNil(try sandbox.outputs()["per/dia0/utt002.mp4/summary.txt"])
        XCTAssertFalse(try sandbox.read("out/p/all/all.txt").contains("utt002"))
    }

    func testMapOverMapStageReusesUpstreamItems() throws {
        let sandbox = try Sandbox()
        let yaml = """
            stages:
              gen:
                uses: test.generate
                params: {count: 6}
              first:
                uses: test.digest
                map: gen
              second:
                uses: test.digest
                map: first
                params: {salt: again}
            """
        let run = try sandbox.run(yaml)
        XCTAssertEqual(run.stage("first")?.executed, 6)
        XCTAssertEqual(run.stage("second")?.executed, 6)
        let summary = try sandbox.read("out/p/second/f0003.bin/summary.txt")
        XCTAssertTrue(summary.hasPrefix("salt=again id=f0003.bin\nsummary.txt "))
        let changed = try sandbox.run(yaml.replacingOccurrences(of: "{count: 6}", with: "{count: 7}"))
        XCTAssertEqual(changed.stage("first")?.executed, 1)
        XCTAssertEqual(changed.stage("second")?.executed, 1)
    }

    func testMapOverTheMatchingFilesOfAWholeStage() throws {
        let sandbox = try Sandbox()
        let yaml = """
            stages:
              gen:
                uses: test.generate
                params: {count: 5}
              odd:
                uses: test.digest
                map: {stage: gen, glob: "f000[13].bin"}
            """
        let run = try sandbox.run(yaml)
        XCTAssertEqual(run.stage("odd")?.executed, 2)
        XCTAssertEqual(Set(try sandbox.outputs().keys.filter { $0.hasPrefix("odd/") }), ["odd/f0001.bin/summary.txt", "odd/f0003.bin/summary.txt"])
        XCTAssertEqual(try sandbox.run(yaml.replacingOccurrences(of: "{count: 5}", with: "{count: 6}")).stage("odd")?.executed, 0,
                       "a new file outside the glob changes no item")
    }

    func testForceAndUntil() throws {
        let sandbox = try Sandbox()
        try makeClips(sandbox, count: 4)
        let partial = try sandbox.run(Self.pipeline, until: "per")
        XCTAssertEqual(partial.stages.map(\.name), ["per"])
        XCTAssertEqual(try sandbox.status(Self.pipeline)["all"]?.reasons, ["never run"])
        _ = try sandbox.run(Self.pipeline)
        let forced = try sandbox.run(Self.pipeline, force: ["per"])
        XCTAssertEqual(forced.stage("per")?.executed, 4)
        XCTAssertEqual(forced.stage("all")?.state, .upToDate, "the same outputs again: nothing below reruns")
    }

    func testAFailedItemStopsNothingElseAndIsRetriedAlone() throws {
        let sandbox = try Sandbox()
        try makeClips(sandbox, count: 8)
        try sandbox.write("clips/dia0/utt005.mp4", "FAIL: broken clip")
        let run = try sandbox.run(Self.pipeline)
        XCTAssertEqual(run.stage("per")?.state, .failed)
        XCTAssertEqual(run.stage("per")?.executed, 7)
        XCTAssertTrue(run.stage("per")?.failures.first?.contains("dia0/utt005.mp4") ?? false)
        XCTAssertEqual(run.stage("all")?.state, .skipped)
        XCTAssertEqual(run.stage("tail")?.executed, 1, "an independent branch still runs")
        XCTAssertTrue(run.failed)

        try sandbox.write("clips/dia0/utt005.mp4", "clip 5, repaired")
        let retry = try sandbox.run(Self.pipeline)
        XCTAssertEqual(retry.stage("per")?.executed, 1, "the 7 finished items were kept")
        XCTAssertEqual(retry.stage("all")?.executed, 1)
        XCTAssertFalse(retry.failed)
    }

    func testVersionAndInputReasons() throws {
        let sandbox = try Sandbox()
        try sandbox.write("models/a.txt", "one")
        let yaml = """
            stages:
              cat:
                uses: test.concat
                deps: [{path: models}]
            """
        _ = try sandbox.run(yaml)
        try sandbox.write("models/a.txt", "two")
        XCTAssertEqual(try sandbox.status(yaml)["cat"]?.reasons, ["input path 'models' changed"])
        XCTAssertEqual(try sandbox.run(yaml).executed, 1)
        XCTAssertEqual(try sandbox.read("out/p/cat/all.txt"), "all\n== models/a.txt\ntwo")
    }
}
