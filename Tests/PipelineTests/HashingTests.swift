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
        XCTAssertEqual(StatCache(path: path).digest(for: file), Digest.of(string: "alpha"))
        try sandbox.write("a.txt", "beta!")
        XCTAssertNil(StatCache(path: path).digest(for: try FileScanner.scan(sandbox.data + "/a.txt")[0]))
    }

    func testGlob() {
        let clips = Glob("**/*.mp4")
        XCTAssertTrue(clips.matches("dia1_utt0.mp4"))
        XCTAssertTrue(clips.matches("train_splits/dia1_utt0.mp4"))
        XCTAssertFalse(clips.matches("train_splits/dia1_utt0.mp4.part"))
        XCTAssertTrue(Glob("train*/dia?_utt[0-3].mp4").matches("train_splits/dia7_utt2.mp4"))
        XCTAssertFalse(Glob("train*/dia?_utt[0-3].mp4").matches("train_splits/dia7_utt5.mp4"))
        XCTAssertFalse(Glob("*.mp4").matches("a/b.mp4"), "a single star stays within one folder")
        XCTAssertTrue(Glob("a/**/x").matches("a/x"))
        XCTAssertTrue(Glob("a/**/x").matches("a/b/c/x"))
    }
}
