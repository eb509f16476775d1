import Foundation
import Media
import TestSupport
import XCTest

/// Decoding, checked against FFmpeg's own command-line tools and on the real clips in `../shared`.
final class MediaReaderTests: XCTestCase {
    /// ffmpeg's decode of the same file to 16 kHz mono float: the oracle for our audio path.
    func ffmpegAudio(_ path: String) throws -> [Float] {
        let result = try shell("/usr/bin/ffmpeg", ["-v", "error", "-i", path, "-vn", "-ac", "1", "-ar", "16000", "-f", "f32le", "-"])
        XCTAssertEqual(result.status, 0, result.err)
        return result.out.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    func testEveryTalkingFaceClipYieldsAudioAndFrames() throws {
        var clips = try Shared.files(in: "data/clips", withExtensions: ["flv"])
        clips += try Shared.files(in: "data/clips/derived_mp4", withExtensions: ["mp4"])
        XCTAssertEqual(clips.count, 12)
        for clip in clips {
            let reader = try MediaReader(path: clip)
            XCTAssertTrue(reader.hasVideo && reader.hasAudio, clip)
            XCTAssertEqual(reader.videoSize?.width, 480, clip)
            let audio = try reader.audio()
            XCTAssertEqual(Double(audio.count) / 16_000, reader.duration, accuracy: 0.25, clip)
            let frames = try reader.frames(count: 8)
            XCTAssertEqual(frames.count, 8)
            XCTAssertEqual(frames.map(\.time), frames.map(\.time).sorted(), "frames come in time order")
            XCTAssertTrue(frames.allSatisfy { $0.image.pixels.contains { $0 > 30 } }, "frames are not black: \(clip)")
        }
    }

    /// Two samplings read in one decoding pass (the faces stage's sampled and analysis frames) are, frame for frame and
    /// byte for byte, what two passes give, including samplings denser than the clip's frames (frames repeat).
    func testTwoSamplingsInOnePassAreTheFramesOfTwoPasses() throws {
        let clips = try Shared.files(in: "data/clips", withExtensions: ["flv"]).prefix(2) + Shared.files(in: "data/clips/derived_mp4", withExtensions: ["mp4"]).prefix(2)
        XCTAssertEqual(clips.count, 4)
        for clip in clips {
            for (count, held) in [(8, 31), (8, 7), (3, 400), (0, 12)] {
                let (frames, kept) = try MediaReader(path: clip).frames(count: count, holding: held)
                let images = try kept.images()
                let (alone, heldAlone) = try (MediaReader(path: clip).frames(count: count), MediaReader(path: clip).frames(count: held))
                XCTAssertEqual(frames.map(\.time), alone.map(\.time), "\(clip): \(count) with \(held)")
                XCTAssertEqual(images.map(\.time), heldAlone.map(\.time), "\(clip): \(held) held beside \(count)")
                XCTAssert(zip(frames, alone).allSatisfy { $0.0.image.pixels == $0.1.image.pixels }, "\(clip): \(count) with \(held)")
                XCTAssert(zip(images, heldAlone).allSatisfy { $0.0.image.pixels == $0.1.image.pixels }, "\(clip): \(held) held beside \(count)")
            }
        }
    }

    func testAudioMatchesFFmpegOnRealSpeech() throws {
        let files = try Shared.files(in: "data/speech", withExtensions: ["wav", "mp3"])
        XCTAssertEqual(files.count, 25)
        for file in files {
            let ours = try MediaReader(path: file).audio()
            let theirs = try ffmpegAudio(file)
            // Same libraries, same default resampler; MP3 decoder delay handling may shift a frame's worth.
            XCTAssertEqual(ours.count, theirs.count, accuracy: 1200, file)
            let n = min(ours.count, theirs.count)
            if file.hasSuffix(".wav") {
                var worst: Float = 0
                for i in 0..<n { worst = max(worst, abs(ours[i] - theirs[i])) }
                XCTAssertLessThan(worst, 1e-4, file)
            } else {
                let energy = ours.reduce(0) { $0 + $1 * $1 }, reference = theirs.reduce(0) { $0 + $1 * $1 }
                XCTAssertEqual(energy / reference, 1, accuracy: 0.05, file)
            }
        }
    }

    func testMissingEmptyAndRandomFilesGetTypedErrors() throws {
        let folder = try TemporaryFolder()
        XCTAssertThrowsError(try MediaReader(path: folder.file("nope.mp4"))) { XCTAssertEqual(($0 as? MediaError)?.reason, "not_found") }
        _ = FileManager.default.createFile(atPath: folder.file("empty.mp4"), contents: Data())
        XCTAssertThrowsError(try MediaReader(path: folder.file("empty.mp4"))) { XCTAssertEqual(($0 as? MediaError)?.reason, "undecodable") }
        var generator = SeededGenerator(seed: 7)
        _ = FileManager.default.createFile(atPath: folder.file("noise.mp4"), contents: Data((0..<50_000).map { _ in UInt8.random(in: 0...255, using: &generator) }))
        XCTAssertThrowsError(try MediaReader(path: folder.file("noise.mp4"))) {
            XCTAssertEqual(($0 as? MediaError)?.reason, "undecodable")
            XCTAssertTrue("\($0)".contains("noise.mp4"), "the error names the file")
        }
    }
}
