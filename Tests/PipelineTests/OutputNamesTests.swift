import Foundation
@testable import Pipeline
import XCTest

/// Issue 30: out/ links into the cache, and browsers, viewers and `mimetypes` take a file's type from the name at the
/// end of the link. Objects keep the extension of the output they store; caches written before are upgraded in place.
final class OutputNamesTests: XCTestCase {
    func testAnObjectKeepsTheExtensionATypeIsToldFrom() {
        let cases: [(String, String)] = [
            ("results.html", ".html"), ("a/b/face.PNG", ".PNG"), ("model.safetensors", ".safetensors"), ("rows/x.tar.gz", ".gz"),
            ("summary", ""), (".hidden", ""), ("dir.d/plain", ""), ("odd.ext-with-dash", ""), ("odd.", ""),
            ("long.abcdefghijklmnopq", ""), ("accent.é", ""), ("x.json", ".json"),
        ]
        for (path, suffix) in cases { XCTAssertEqual(ObjectName.suffix(of: path), suffix, path) }
        let digest = Digest.of(string: "x")
        XCTAssertEqual(ObjectName(fileName: digest.hex + ".html"), ObjectName(digest: digest, suffix: ".html"))
        XCTAssertEqual(ObjectName(fileName: digest.hex), ObjectName(digest: digest, suffix: ""))
        XCTAssertNil(ObjectName(fileName: digest.hex + ".tmp-1-2"))
        XCTAssertNil(ObjectName(fileName: digest.hex + "x"))
        XCTAssertNil(ObjectName(fileName: "notahash.html"))
    }

    func testOutputsOpenAsWhatTheyAreAndAnEditIsStillNoticed() throws {
        let sandbox = try Sandbox()
        try JoinAndBucketTests.makeClips(sandbox, count: 3)
        let pipeline = JoinAndBucketTests.pipeline()
        _ = try sandbox.run(pipeline)
        let link = sandbox.data + "/out/p/per/d0/u01.mp4/summary.txt"
        let object = URL(fileURLWithPath: link).resolvingSymlinksInPath().path
        XCTAssertTrue(object.contains("/cache/objects/") && object.hasSuffix(".txt"), object)
        // Python's mimetypes, as a file manager would ask it, of the file the link leads to.
        let guessed = try Sandbox.shell("/usr/bin/env", ["python3", "-c", "import mimetypes, os, sys; print(mimetypes.guess_type(os.path.realpath(sys.argv[1]))[0])", link])
        XCTAssertEqual(guessed.out.trimmingCharacters(in: .whitespacesAndNewlines), "text/plain", guessed.err)

        // Written through out/ (the object is read-only, so as an editor that insists would): noticed as before.
        chmod(object, 0o644)
        try Data("edited\n".utf8).write(to: URL(fileURLWithPath: link))
        let status = try sandbox.status(pipeline)
        XCTAssertEqual(status["per"]?.upToDate, false, "\(status["per"]?.reasons ?? [])")
        XCTAssertEqual(try sandbox.run(pipeline).executed, 1)
        XCTAssertTrue(try sandbox.read("out/p/per/d0/u01.mp4/summary.txt").hasPrefix("salt= id=d0/u01.mp4"))
    }

    /// A cache of layout 1 (objects named by digest alone) is renamed in place: nothing reruns, out/ links lead to named
    /// objects, and `gc` drops the old names.
    func testACacheFromBeforeIsUpgradedWithoutRecomputing() throws {
        let sandbox = try Sandbox()
        try JoinAndBucketTests.makeClips(sandbox, count: 12)
        let pipeline = JoinAndBucketTests.pipeline()
        _ = try sandbox.run(pipeline)
        let before = try sandbox.outputs()

        // Back to layout 1: objects lose their extension, links their target's.
        let store = try ObjectStore(root: sandbox.workspace.cache)
        var renamed = 0
        for (name, _) in store.allObjects() where !name.suffix.isEmpty {
            let bare = store.path(of: ObjectName(digest: name.digest, suffix: ""))
            if access(bare, F_OK) == 0 { unlink(store.path(of: name)) } else { XCTAssertEqual(rename(store.path(of: name), bare), 0); renamed += 1 }
        }
        XCTAssertGreaterThan(renamed, 12)
        let out = sandbox.data + "/out/p"
        let enumerator = FileManager.default.enumerator(atPath: out)!
        var links = 0
        while let relative = enumerator.nextObject() as? String {
            let path = out + "/" + relative
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: path), target.contains("cache/objects/") else { continue }
            let suffix = ObjectName.suffix(of: target)
            guard !suffix.isEmpty else { continue }
            unlink(path)
            XCTAssertEqual(symlink(String(target.dropLast(suffix.count)), path), 0)
            links += 1
        }
        XCTAssertGreaterThan(links, 12)
        XCTAssertEqual(unlink(sandbox.workspace.cache + "/layout"), 0)

        XCTAssertTrue(try sandbox.status(pipeline).values.allSatisfy(\.upToDate))
        XCTAssertEqual(try sandbox.run(pipeline).executed, 0)
        XCTAssertEqual(try sandbox.outputs(), before)
        let object = URL(fileURLWithPath: out + "/per/d1/u11.mp4/summary.txt").resolvingSymlinksInPath().path
        XCTAssertTrue(object.hasSuffix(".txt"), object)
        let collected = try GarbageCollector.collect(workspace: sandbox.workspace)
        XCTAssertEqual(collected.objectsRemoved, renamed, "the old names, no longer in use")
        XCTAssertEqual(try sandbox.outputs(), before)
        XCTAssertTrue(try Verifier.verify(workspace: sandbox.workspace, threads: 2).missing.isEmpty)
    }
}
