import Foundation
@testable import Pipeline
import XCTest

/// File digests agree with coreutils' `sha256sum`, and globs select what shells and DVC would.
final class HashingTests: XCTestCase {
    func testFileDigestMatchesSha256sum() throws {
        let sandbox = try Sandbox()
        var bytes = [UInt8](repeating: 0, count: 3 << 20 | 12345)
        for index in bytes.indices { bytes[index] = UInt8(truncatingIfNeeded: index &* 2_654_435_761 >> 7) }
        try Data(bytes).write(to: URL(fileURLWithPath: sandbox.data + "/big.bin"))
        try Data().write(to: URL(fileURLWithPath: sandbox.data + "/empty.bin"))
        for name in ["big.bin", "empty.bin"] {
            let path = sandbox.data + "/" + name
            let (digest, size) = try FileHasher.digest(ofFileAt: path)
            let oracle = try Sandbox.shell("/usr/bin/sha256sum", [path])
            XCTAssertEqual(digest.hex, String(oracle.out.prefix(64)))
            XCTAssertEqual(size, Int64(try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int))
        }
    }

    func testStatCacheSurvivesAReloadAndDropsChangedFiles() throws {
        let sandbox = try Sandbox()
        try sandbox.write("a.txt", "alpha")
        let path = sandbox.data + "/cache/statcache"
        let file = try FileScanner.scan(sandbox.data + "/a.txt")[0]
        let cache = StatCache(path: path)
        cache.remember(file, digest: Digest.of(string: "alpha"))
        try cache.save()
        XCTAssertEqual(StatCache(path: path).digests(for: [file])[0], Digest.of(string: "alpha"))
        try sandbox.write("a.txt", "beta!")
        XCTAssertNil(StatCache(path: path).digests(for: try FileScanner.scan(sandbox.data + "/a.txt"))[0])
    }

    func testGlob() {
        let clips = Glob("**/*.mp4")
        XCTAssertTrue(clips.matches("dia1_utt0.mp4"))
        XCTAssertTrue(clips.matches("train_splits/dia1_utt0.mp4"))
        XCTAssertFalse(clips.matches("train_splits/dia1_utt0.mp4.part"))
        XCTAssertTrue(Glob("train*/dia?_utt[0-3].mp4").matches("train_splits/dia7_utt2.mp4"))
        XCTAssertFalse(Glob("train*/dia?_utt[0-3].mp4").matches("train_splits/dia7_utt5.mp4"))
        XCTAssertFalse(Glob("*.mp4").matches("a/b.mp4"), "a single star stays within one folder")
        XCTAssertTrue(Glob("**/*.{flv,wav}").matches("VideoFlash/1001_DFA_ANG_XX.flv"))
        XCTAssertTrue(Glob("**/*.{flv,wav}").matches("AudioWAV/1001_DFA_ANG_XX.wav"))
        XCTAssertFalse(Glob("**/*.{flv,wav}").matches("AudioMP3/1001_DFA_ANG_XX.mp3"))
        XCTAssertTrue(Glob("{a,b/{c,d}}/*.txt").matches("b/d/x.txt"))
        XCTAssertTrue(Glob("{a}/x").matches("{a}/x"), "a brace without a comma is literal")
        XCTAssertEqual(Glob.alternatives(of: "x{1,2}y{3,4}"), ["x1y3", "x1y4", "x2y3", "x2y4"])
        XCTAssertNil(Glob.alternatives(of: String(repeating: "{a,b}", count: 40)), "2^40 patterns are counted, not built")
        XCTAssertTrue(Glob("a/**/x").matches("a/x"))
        XCTAssertTrue(Glob("a/**/x").matches("a/b/c/x"))
    }

    /// The suffix fast path (`**/*.mp4`, `*.mp4`) answers as `fnmatch` does on the name (and, without `**`, only
    /// for a path in no folder).
    func testGlobSuffixFormsAgreeWithFnmatch() {
        let names = ["a.mp4", ".mp4", "mp4", "x.MP4", "a.mp4.part", "b/a.mp4", "b/c/.mp4", "dia1_utt0.mp4", "é.mp4", "a b.mp4", "amp4", "b.mp4/c"]
        for pattern in ["*.mp4", "*mp4", "*.tar.gz"] {
            for name in names {
                let last = name.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? name
                XCTAssertEqual(Glob("**/" + pattern).matches(name), fnmatch(pattern, last, 0) == 0, "**/\(pattern) on \(name)")
                XCTAssertEqual(Glob(pattern).matches(name), fnmatch(pattern, name, FNM_PATHNAME) == 0, "\(pattern) on \(name)")
            }
        }
    }

    /// A stat cache written in any order (as older versions did) is read, and saved again in path order with
    /// what was learned; a damaged line costs only its own entry.
    func testStatCacheReadsAnyOrderAndSavesInPathOrder() throws {
        let sandbox = try Sandbox()
        var files: [ScannedFile] = []
        for name in ["b.txt", "a.txt", "c/d.txt", "c.txt", "é.txt"] {
            try sandbox.write(name, name)
            files.append(try FileScanner.scan(sandbox.data + "/" + name)[0])
        }
        let path = sandbox.data + "/statcache"
        let lines = files.map { "\(Digest.of(string: $0.absolute).hex) \($0.size) \($0.mtimeNanoseconds) \(Int64(bitPattern: $0.inode)) \($0.absolute)" }
        try Data((lines.reversed() + ["damaged line"]).joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: path))
        let cache = StatCache(path: path)
        XCTAssertEqual(cache.digests(for: files), files.map { Digest.of(string: $0.absolute) })
        try sandbox.write("new.txt", "new")
        let new = try FileScanner.scan(sandbox.data + "/new.txt")[0]
        XCTAssertEqual(cache.digests(for: [new]), [nil])
        cache.remember(new, digest: Digest.of(string: "new"))
        try cache.save()
        let saved = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { String($0.split(separator: " ", maxSplits: 4)[4]) }
        XCTAssertEqual(saved, (files + [new]).map(\.absolute).sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })
        XCTAssertEqual(StatCache(path: path).digests(for: files + [new]), files.map { Digest.of(string: $0.absolute) } + [Digest.of(string: "new")])
    }

    /// A map stage's items survive the record's one-string form whatever their ids hold, and the older form
    /// (an array of strings) is still read.
    func testRunRecordItemsRoundTripAndOlderFormIsRead() throws {
        let ids = ["dia0_utt0.mp4", "with space.mp4", "line\nbreak", "quote\"and\\slash/é", "12 34"]
        let items = ids.enumerated().map { ItemRecord(id: $1, input: Digest.of(string: "in\($0)"), output: Digest.of(string: "out\($0)")) }
        let stage = StageRecord(kind: "k", kindVersion: 1, params: [:], deps: [:], map: "path:x", base: Digest.of(string: "b"),
                                output: Digest.of(string: "o"), files: nil, items: items, finished: "now")
        let decoded = try JSONDecoder().decode(StageRecord.self, from: try JSONEncoder().encode(stage))
        XCTAssertEqual(decoded.items?.map(\.id), ids)
        XCTAssertEqual(decoded.items?.map(\.input), items.map(\.input))
        XCTAssertEqual(decoded.items?.map(\.output), items.map(\.output))
        let empty = StageRecord(kind: "k", kindVersion: 1, params: [:], deps: [:], map: "path:x", base: Digest.of(string: "b"),
                                output: Digest.of(string: "o"), files: nil, items: [], finished: "now")
        XCTAssertEqual(try JSONDecoder().decode(StageRecord.self, from: try JSONEncoder().encode(empty)).items?.count, 0)

        let older = """
        {"kind":"k","kindVersion":1,"params":{},"deps":{},"base":"\(Digest.of(string: "b").hex)","output":"\(Digest.of(string: "o").hex)",
         "finished":"now","items":["\(items[1].input.hex) \(items[1].output.hex) with space.mp4"]}
        """
        let read = try JSONDecoder().decode(StageRecord.self, from: Data(older.utf8))
        XCTAssertEqual(read.items?.map(\.id), ["with space.mp4"])
        XCTAssertEqual(read.items?.first?.output, items[1].output)
        let damaged = older.replacingOccurrences(of: "[\"", with: "\"").replacingOccurrences(of: "mp4\"]", with: "mp4\"")
        XCTAssertThrowsError(try JSONDecoder().decode(StageRecord.self, from: Data(damaged.utf8)))
    }
}
