import Foundation
@testable import Pipeline
import XCTest

/// `join:` attaches other stages' outputs to each item by id, and a bucket kind runs once per bucket of items:
/// one changed item (or one changed row of a joined whole stage) reruns exactly one unit.
final class JoinAndBucketTests: XCTestCase {
    static func pipeline(changed: String = "", extra: String = "", buckets: Int = 4) -> String {
        """
        stages:
          per:
            uses: test.digest
            map: {path: clips, glob: "**/*.mp4"}
          rows:
            uses: test.rows
            deps: [clips]
            params: {changed: "\(changed)", extra: "\(extra)"}
          packed:
            uses: test.bucket
            map: per
            join: [{stage: rows, under: rows}]
            params: {buckets: \(buckets)}
        """
    }

    func makeClips(_ sandbox: Sandbox, count: Int) throws { try Self.makeClips(sandbox, count: count) }

    static func makeClips(_ sandbox: Sandbox, count: Int) throws {
        for index in 0..<count { try sandbox.write(String(format: "clips/d%d/u%02d.mp4", index / 10, index), "clip \(index)\n") }
    }

    /// Every item lands in the bucket its id hashes to, with its own files and its joined folder under `rows/`.
    func testBucketsHoldEveryItemOnceWithItsJoinedFiles() throws {
        let sandbox = try Sandbox()
        try makeClips(sandbox, count: 30)
        let summary = try sandbox.run(Self.pipeline())
        let outputs = try sandbox.outputs()
        var seen: [String: String] = [:]
        for (path, data) in outputs where path.hasPrefix("packed/") {
            let bucket = String(path.dropFirst("packed/".count).prefix(1))
            for line in String(decoding: data, as: UTF8.self).split(separator: "\n") where line.hasPrefix("== ") {
                let id = String(line.dropFirst(3))
                XCTAssertNil(seen[id], "\(id) in two buckets")
                seen[id] = bucket
                XCTAssertEqual(Bucket.number(of: id, count: 4), Int(bucket)!, id)
            }
            let text = String(decoding: data, as: UTF8.self)
            XCTAssertTrue(text.contains("summary.txt: salt= id="), text)
            XCTAssertTrue(text.contains("rows/row.txt: row "), text)
        }
        XCTAssertEqual(seen.count, 30)
        XCTAssertEqual(summary.stage("packed")?.executed, Set(seen.values).count)
        let text = try sandbox.read("out/p/packed/\(Bucket.number(of: "d0/u03.mp4", count: 4))/members.txt")
        XCTAssertTrue(text.contains("== d0/u03.mp4\nsummary.txt: salt= id=d0/u03.mp4\n"), text)
        XCTAssertTrue(text.contains("rows/row.txt: row d0/u03.mp4\n"), text)
    }

    func testOneChangedItemRerunsOneBucket() throws {
        let sandbox = try Sandbox()
        try makeClips(sandbox, count: 30)
        _ = try sandbox.run(Self.pipeline())
        let before = try sandbox.outputs()
        try sandbox.write("clips/d1/u17.mp4", "clip 17, changed\n")
        let rerun = try sandbox.run(Self.pipeline())
        XCTAssertEqual(rerun.stage("per")?.executed, 1)
        XCTAssertEqual(rerun.stage("packed")?.executed, 1, "one bucket, not the stage")
        let after = try sandbox.outputs()
        let changed = Set(after.keys.filter { after[$0] != before[$0] })
        let bucket = Bucket.number(of: "d1/u17.mp4", count: 4)
        XCTAssertTrue(changed.contains("packed/\(bucket)/members.txt"), "\(changed)")
        XCTAssertEqual(changed.filter { $0.hasPrefix("packed/") }.count, 1, "\(changed)")
    }

    /// A joined whole stage enters each item's key, not the stage's: one changed row reruns one bucket; the
    /// rows stage itself reran (it is whole), yet the other buckets stay.
    func testOneChangedJoinedRowRerunsOneBucket() throws {
        let sandbox = try Sandbox()
        try makeClips(sandbox, count: 30)
        _ = try sandbox.run(Self.pipeline())
        let status = try sandbox.status(Self.pipeline(changed: "d2/u23.mp4", extra: " relabelled"))
        XCTAssertEqual(status["rows"]?.upToDate, false)
        let rerun = try sandbox.run(Self.pipeline(changed: "d2/u23.mp4", extra: " relabelled"))
        XCTAssertEqual(rerun.stage("rows")?.executed, 1)
        XCTAssertEqual(rerun.stage("packed")?.executed, 1)
        let text = try sandbox.read("out/p/packed/\(Bucket.number(of: "d2/u23.mp4", count: 4))/members.txt")
        XCTAssertTrue(text.contains("rows/row.txt: row d2/u23.mp4 relabelled"), text)
    }

    /// Another bucket count is another stage key: every bucket reruns.
    func testChangingTheBucketCountRegroups() throws {
        let sandbox = try Sandbox()
        try makeClips(sandbox, count: 30)
        _ = try sandbox.run(Self.pipeline())
        let rerun = try sandbox.run(Self.pipeline(buckets: 3))
        XCTAssertEqual(rerun.stage("packed")?.executed, 3)
        XCTAssertEqual(rerun.stage("per")?.executed, 0)
    }

    func testJoinMistakesAreNamed() throws {
        let sandbox = try Sandbox()
        let cases: [(String, String)] = [
            ("stages:\n  a: {uses: test.generate}\n  b: {uses: test.concat, deps: [a], join: [a]}\n", "has no 'map'"),
            ("stages:\n  a: {uses: test.generate}\n  b: {uses: test.digest, map: a, join: [a]}\n", "under: FOLDER"),
            ("stages:\n  a: {uses: test.generate}\n  m: {uses: test.digest, map: a}\n  b: {uses: test.digest, map: a, join: [{stage: m, under: x}]}\n", "drop 'under'"),
            ("stages:\n  a: {uses: test.generate}\n  b: {uses: test.digest, map: a, join: [nope]}\n", "does not declare"),
            ("stages:\n  a: {uses: test.generate}\n  b: {uses: test.bucket, map: a, params: {buckets: 0}}\n", "at least 1"),
        ]
        for (yaml, words) in cases {
            XCTAssertThrowsError(try sandbox.graph(yaml), yaml) { error in
                XCTAssertTrue("\(error)".contains(words), "\(error)")
            }
        }
    }
}

/// `emotion verify` finds a flipped byte in the cache, takes the damaged output out, and the next run
/// recomputes exactly the unit that produced it, to the same bytes.
final class VerifyTests: XCTestCase {
    func testAFlippedByteIsFoundAndOnlyItsUnitRecomputed() throws {
        let sandbox = try Sandbox()
        try JoinAndBucketTests.makeClips(sandbox, count: 12)
        let pipeline = JoinAndBucketTests.pipeline()
        _ = try sandbox.run(pipeline)
        let before = try sandbox.outputs()
        XCTAssertTrue(try Verifier.verify(workspace: sandbox.workspace, threads: 2).damaged.isEmpty)

        // One item's output, flipped in place in the cache (as root can, read-only or not).
        let link = sandbox.data + "/out/p/per/d0/u03.mp4/summary.txt"
        let object = URL(fileURLWithPath: link).resolvingSymlinksInPath().path
        chmod(object, 0o644)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: object))
        bytes[0] ^= 0x20
        try bytes.write(to: URL(fileURLWithPath: object))

        let result = try Verifier.verify(workspace: sandbox.workspace, threads: 2)
        XCTAssertEqual(result.damaged, [object])
        XCTAssertEqual(result.recomputed.map(\.description), ["stage 'per' of p, item d0/u03.mp4"])
        let rerun = try sandbox.run(pipeline)
        XCTAssertEqual(rerun.executed, 1, "only the damaged item: its output is the same again, so nothing below it reruns")
        XCTAssertEqual(rerun.stage("per")?.executed, 1)
        XCTAssertEqual(try sandbox.outputs(), before)
    }

    /// Without `verify`: `status` and `run` rehash an output whose modification time moved; a touched one that
    /// still holds its bytes costs nothing more.
    func testStatusAndRunNoticeAnOutputWrittenSinceItWasStored() throws {
        let sandbox = try Sandbox()
        try JoinAndBucketTests.makeClips(sandbox, count: 12)
        let pipeline = JoinAndBucketTests.pipeline()
        _ = try sandbox.run(pipeline)
        let before = try sandbox.outputs()
        let object = URL(fileURLWithPath: sandbox.data + "/out/p/per/d1/u11.mp4/summary.txt").resolvingSymlinksInPath().path

        try FileManager.default.setAttributes([.modificationDate: Date()], ofItemAtPath: object)
        XCTAssertTrue(try sandbox.status(pipeline).values.allSatisfy(\.upToDate), "touched, same bytes")
        XCTAssertEqual(try sandbox.run(pipeline).executed, 0)

        chmod(object, 0o644)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: object))
        bytes[bytes.count - 1] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: object))
        let status = try sandbox.status(pipeline)
        XCTAssertEqual(status["per"]?.upToDate, false)
        XCTAssertTrue(status["per"]?.reasons.contains { $0.contains("1 item(s) whose cached output changed or went missing on disk since it was stored: d1/u11.mp4") } == true,
                      "\(status["per"]?.reasons ?? [])")
        let rerun = try sandbox.run(pipeline)
        XCTAssertEqual(rerun.executed, 1)
        XCTAssertEqual(try sandbox.outputs(), before)
        XCTAssertTrue(try sandbox.status(pipeline).values.allSatisfy(\.upToDate))
    }

    /// Issue 27, case 4: an object deleted from the cache by hand left its out/ link dangling while `status` and `run`
    /// said up to date and `verify` reported nothing. Now all three notice it, and the run recomputes exactly its unit.
    func testAnOutputDeletedFromTheCacheIsNoticedAndRecomputed() throws {
        let sandbox = try Sandbox()
        try JoinAndBucketTests.makeClips(sandbox, count: 12)
        let pipeline = JoinAndBucketTests.pipeline()
        _ = try sandbox.run(pipeline)
        let before = try sandbox.outputs()
        let link = sandbox.data + "/out/p/per/d1/u11.mp4/summary.txt"
        let object = URL(fileURLWithPath: link).resolvingSymlinksInPath().path
        XCTAssertTrue(object.contains("/cache/objects/"), object)

        XCTAssertEqual(unlink(object), 0)
        let status = try sandbox.status(pipeline)
        XCTAssertEqual(status["per"]?.upToDate, false)
        XCTAssertTrue(status["per"]?.reasons.contains { $0.contains("1 item(s) whose cached output changed or went missing on disk since it was stored: d1/u11.mp4") } == true,
                      "\(status["per"]?.reasons ?? [])")
        let rerun = try sandbox.run(pipeline)
        XCTAssertEqual(rerun.executed, 1, "that item alone")
        XCTAssertEqual(try sandbox.outputs(), before)
        XCTAssertEqual(access(link, R_OK), 0, "the link points at content again")
        XCTAssertTrue(try sandbox.status(pipeline).values.allSatisfy(\.upToDate))

        XCTAssertEqual(unlink(object), 0)
        let verified = try Verifier.verify(workspace: sandbox.workspace, threads: 2)
        XCTAssertEqual(verified.missing, [object])
        XCTAssertEqual(verified.recomputed.map(\.description), ["stage 'per' of p, item d1/u11.mp4"])
        XCTAssertEqual(try sandbox.run(pipeline).executed, 1)
        XCTAssertEqual(try sandbox.outputs(), before)
    }
}
