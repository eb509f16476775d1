import Foundation
import Media
import TestSupport
import XCTest

/// What the writer produces, read back by ffprobe and ffmpeg (the oracles) and by our own reader.
final class MP4WriterTests: XCTestCase {
    static func testPattern(_ width: Int, _ height: Int, frame: Int) -> RGBImage {
        var image = RGBImage(width: width, height: height)
        for y in 0..<height {
            for x in 0..<width {
                let offset = (y * width + x) * 3
                image.pixels[offset] = UInt8((x * 255) / width)
                image.pixels[offset + 1] = UInt8((y * 255) / height)
                image.pixels[offset + 2] = UInt8((frame * 20) % 256)
            }
        }
        return image
    }

    static func tone(seconds: Double, rate: Int = 16_000) -> [Float] {
        (0..<Int(seconds * Double(rate))).map { 0.5 * Float(sin(2 * Double.pi * 440 * Double($0) / Double(rate))) }
    }

    @discardableResult
    static func write(_ path: String, width: Int = 64, height: Int = 48, seconds: Double = 2, video: Bool = true, audio: Bool = true) throws -> [RGBImage] {
        let writer = try MP4Writer(path: path, settings: .init(width: width, height: height, frameRate: 24, video: video, audio: audio))
        var frames: [RGBImage] = []
        if video {
            for index in 0..<Int(seconds * 24) {
                frames.append(testPattern(width, height, frame: index))
                try writer.append(frame: frames.last!)
            }
        }
        if audio { try writer.append(samples: tone(seconds: seconds)) }
        try writer.finish()
        return frames
    }

    func testFFprobeSeesH264AndAACOfTheRightLength() throws {
        let folder = try TemporaryFolder()
        try Self.write(folder.file("clip.mp4"))
        let probe = try shell("/usr/bin/ffprobe", ["-v", "error", "-show_entries", "stream=codec_name,width,height,nb_frames,sample_rate,channels,duration",
                                                   "-of", "json", folder.file("clip.mp4")])
        XCTAssertEqual(probe.status, 0, probe.err)
        let json = try JSONSerialization.jsonObject(with: probe.out) as! [String: Any]
        let streams = json["streams"] as! [[String: Any]]
        let video = streams.first { $0["codec_name"] as? String == "h264" }
        let audio = streams.first { $0["codec_name"] as? String == "aac" }
        XCTAssertEqual(video?["width"] as? Int, 64)
        XCTAssertEqual(video?["nb_frames"] as? String, "48")
        XCTAssertEqual(audio?["sample_rate"] as? String, "16000")
        XCTAssertEqual(audio?["channels"] as? Int, 1)
        XCTAssertEqual(Double(audio?["duration"] as? String ?? "0") ?? 0, 2, accuracy: 0.1)
    }

    func testRoundTripThroughOurReader() throws {
        let folder = try TemporaryFolder()
        let written = try Self.write(folder.file("clip.mp4"))
        let reader = try MediaReader(path: folder.file("clip.mp4"))
        XCTAssertEqual(reader.duration, 2, accuracy: 0.1)
        let frames = try reader.frames(count: 4)
        for (time, image) in frames {
            let index = Int((time * 24).rounded())
            var error = 0.0
            for (a, b) in zip(image.pixels, written[index].pixels) { error += Double((Int(a) - Int(b)) * (Int(a) - Int(b))) }
            let psnr = 10 * log10(255 * 255 / (error / Double(image.pixels.count)))
            XCTAssertGreaterThan(psnr, 30, "frame \(index) survives H.264 at CRF 23")
        }
        let audio = try reader.audio()
        XCTAssertEqual(Double(audio.count) / 16_000, 2, accuracy: 0.1)
        let rms = sqrt(audio[4000..<28000].reduce(0) { $0 + Double($1 * $1) } / 24000)
        XCTAssertEqual(rms, 0.5 / 2.0.squareRoot(), accuracy: 0.03, "a 0.5-amplitude tone keeps its loudness through AAC")
    }

    func testSameInputGivesSameDecodedOutput() throws {
        let folder = try TemporaryFolder()
        try Self.write(folder.file("a.mp4"))
        try Self.write(folder.file("b.mp4"))
        let a = try MediaReader(path: folder.file("a.mp4")), b = try MediaReader(path: folder.file("b.mp4"))
        XCTAssertEqual(try a.audio(), try b.audio())
        XCTAssertEqual(try a.frames(count: 5).map(\.image), try b.frames(count: 5).map(\.image))
    }

    func testStreamsThatAreNotThereAndTruncatedFiles() throws {
        let folder = try TemporaryFolder()
        try Self.write(folder.file("silent-film.mp4"), audio: false)
        let film = try MediaReader(path: folder.file("silent-film.mp4"))
        XCTAssertThrowsError(try film.audio()) { XCTAssertEqual(($0 as? MediaError)?.reason, "no_audio_stream") }
        XCTAssertEqual(try film.frames(count: 3).count, 3)

        try Self.write(folder.file("radio.mp4"), video: false)
        let radio = try MediaReader(path: folder.file("radio.mp4"))
        XCTAssertThrowsError(try radio.frames(count: 3)) { XCTAssertEqual(($0 as? MediaError)?.reason, "no_video_stream") }

        try Self.write(folder.file("whole.mp4"), width: 320, height: 240, seconds: 4)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: folder.file("whole.mp4")))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: folder.file("half.mp4")))
        let half = try MediaReader(path: folder.file("half.mp4"))
        XCTAssertThrowsError(try half.audio()) { XCTAssertEqual(($0 as? MediaError)?.reason, "truncated", "\($0)") }
    }
}
