import Foundation
import TestSupport
import XCTest

/// Issue 27, case 12: frames of 856x480 and 424x240 made swscale's vector code write past the packed RGB image that
/// `infer` and `watch` converted into (`malloc(): corrupted top size`). Every frame size a user can hand in is swept
/// here, odd and even, from 16 px to 4K, with non-square pixels and a rotated stream, through `faces`, `infer`,
/// `watch` and its annotated video. The programs run with glibc's checking allocator (a guard byte after every block,
/// checked when it is freed), which catches a write past the end that plain malloc lets through, even from the
/// uninstrumented C libraries an AddressSanitizer build (`make test-asan`) cannot see into.
final class FrameSizeSweepTests: XCTestCase {
    /// WIDTHxHEIGHT, then what ffmpeg is told beyond the size: 4:2:0 (what cameras and broadcasts carry, and the path
    /// that overflowed) where the size is even, 4:4:4 where it is odd.
    static let clips: [(size: String, extra: [String])] = [
        ("16x16", yuv420), ("17x17", yuv444), ("31x47", yuv444), ("200x100", yuv420), ("424x240", yuv420), ("856x480", yuv420),
        ("858x482", yuv420), ("854x480", yuv420), ("1279x719", yuv444), ("720x480", yuv420 + ["-vf", "setsar=32/27"]),
        ("424x240", yuv420 + ["-vf", "setsar=4/3"]), ("856x480", yuv420 + ["-metadata:s:v:0", "rotate=90"]), ("3840x2160", yuv420),
    ]
    static let yuv420 = ["-pix_fmt", "yuv420p"], yuv444 = ["-pix_fmt", "yuv444p"]

    /// glibc's checking allocator for the child, unless this is an AddressSanitizer build (whose allocator must come first).
    static var checkedAllocator: [String: String] {
        let library = "/usr/lib/x86_64-linux-gnu/libc_malloc_debug.so.0"
        guard ProcessInfo.processInfo.environment["EMOTION_ASAN"] == nil, access(library, R_OK) == 0 else { return [:] }
        return ["LD_PRELOAD": library, "MALLOC_CHECK_": "3"]
    }

    func testEveryFrameSizeIsReadWithoutWritingPastABuffer() throws {
        let tiny = try TinyTrainedModel()
        var files: [String] = []
        for (index, clip) in Self.clips.enumerated() {
            let file = tiny.folder.file("sweep-\(index)-\(clip.size).mp4")
            let seconds = clip.size == "3840x2160" ? "0.5" : "1.5"
            let made = try shell("/usr/bin/ffmpeg", ["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=\(clip.size):rate=8", "-f", "lavfi",
                                                     "-i", "sine=frequency=440", "-t", seconds, "-c:v", "libx264", "-preset", "ultrafast"]
                                                    + clip.extra + ["-c:a", "aac", file])
            XCTAssertEqual(made.status, 0, "\(clip.size): \(made.err)")
            files.append(file)
        }
        let environment = Self.checkedAllocator
        let inferred = try shell(tiny.emotion, ["infer", "--model", tiny.model, "--threads", "2"] + files, environment: environment)
        XCTAssertEqual(inferred.status, 0, inferred.err)
        let lines = String(decoding: inferred.out, as: UTF8.self).split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        XCTAssertEqual(lines.map { $0["file"] as? String }, files)
        for line in lines {
            XCTAssertEqual(line["frames_sampled"] as? Int, 2, "\(line)")
            XCTAssertEqual((line["probabilities"] as? [Double])?.reduce(0, +) ?? 0, 1, accuracy: 1e-5, "\(line)")
        }

        for (file, clip) in zip(files, Self.clips) {
            let faces = try shell(tiny.emotion, ["faces", file, "--out", file + ".faces", "--frames", "3", "--size", "32"], environment: environment)
            XCTAssertEqual(faces.status, 0, "\(clip.size) \(clip.extra): \(faces.err)")
            let session = file + ".session.json"
            let watched = try shell(tiny.emotion, ["watch", "--model", tiny.model, "--input", file, "--session", session, "--rate", "4", "--out", file + ".annotated.mp4"],
                                    environment: environment)
            XCTAssertEqual(watched.status, 0, "\(clip.size) \(clip.extra): \(watched.err)")
            let record = (try? Data(contentsOf: URL(fileURLWithPath: session))).flatMap { try? JSONSerialization.jsonObject(with: $0) } as? [String: Any]
            XCTAssertNotNil(record?["session_info"], "\(clip.size): a session record")
            XCTAssertFalse(watched.out.isEmpty, "\(clip.size): predictions")
        }
    }
}
