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

/// An interval of a recording read as if it were the whole (an utterance of a dialogue's video, a span of a long
/// recording): its frames are the recording's frames at the same moments, found by ffmpeg's own seek as the oracle,
/// and its samples the recording's samples over those seconds; a `.clip` reference reads the same way.
final class IntervalReadingTests: XCTestCase {
    /// A 6-second recording with a frame pattern that changes every frame (24 fps) and a tone that rises every second.
    private func recording(_ folder: TemporaryFolder, name: String = "long.mp4") throws -> String {
        let path = folder.file(name)
        let avi = name.hasSuffix(".avi")
        let writer = try MP4Writer(path: path, settings: .init(width: 64, height: 48, frameRate: 24, audio: !avi))
        for index in 0..<(6 * 24) { try writer.append(frame: MP4WriterTests.testPattern(64, 48, frame: index)) }
        if !avi {
            let samples = (0..<(6 * 16_000)).map { index -> Float in
                let pitch = Double(200 + 100 * (index / 16_000))
                return 0.4 * Float(sin(2 * Double.pi * pitch * Double(index) / 16_000))
            }
            try writer.append(samples: samples)
        }
        try writer.finish()
        return path
    }

    /// ffmpeg's frame at `time` (the first whose time is not before it), as RGB.
    private func ffmpegFrame(_ path: String, at time: Double) throws -> [UInt8] {
        let result = try shell("/usr/bin/ffmpeg", ["-v", "error", "-ss", String(format: "%.4f", time), "-i", path, "-frames:v", "1", "-f", "rawvideo",
                                                   "-pix_fmt", "rgb24", "-sws_flags", "bilinear", "-"])
        XCTAssertEqual(result.status, 0, result.err)
        return [UInt8](result.out)
    }

    func testFramesOfAnIntervalAreTheRecordingsFramesThere() throws {
        let folder = try TemporaryFolder()
        for name in ["long.mp4", "dialogue.avi"] {
            let path = try recording(folder, name: name)
            let reader = try MediaReader(path: path, interval: 2.0...4.5)
            XCTAssertEqual(reader.duration, 2.5, accuracy: 1e-9)
            let frames = try reader.frames(count: 5)
            XCTAssertEqual(frames.map(\.time).map { ($0 * 24).rounded() / 24 }, frames.map(\.time), "\(name): times on the frame grid")
            for (index, frame) in frames.enumerated() {
                // The middle of each of five spans of 0.5 s, from the interval's start.
                XCTAssertEqual(frame.time, 0.25 + 0.5 * Double(index), accuracy: 1.0 / 24 + 1e-6, name)
                let theirs = try ffmpegFrame(path, at: 2.0 + frame.time - 0.001)
                XCTAssertEqual(theirs.count, frame.image.pixels.count)
                let differing = zip(theirs, frame.image.pixels).filter { abs(Int($0) - Int($1)) > 2 }.count
                XCTAssertLessThan(differing, theirs.count / 100, "\(name): frame \(index) at \(2.0 + frame.time) s is ffmpeg's frame there")
            }
        }
    }

    func testSamplesOfAnIntervalAreTheRecordingsSamplesThere() throws {
        let folder = try TemporaryFolder()
        let path = try recording(folder)
        let whole = try MediaReader(path: path).audio()
        for interval in [2.0...4.5, 0.1...1.3, 5.0...6.0] {
            let part = try MediaReader(path: path, interval: interval).audio()
            XCTAssertEqual(part.count, Int(((min(interval.upperBound, 6) - interval.lowerBound) * 16_000).rounded()), accuracy: 1, "\(interval)")
            let from = Int(interval.lowerBound * 16_000)
            var worst: Float = 0
            for (index, sample) in part.enumerated() where from + index < whole.count { worst = max(worst, abs(sample - whole[from + index])) }
            XCTAssertLessThan(worst, 1e-4, "the interval \(interval)'s samples are the whole decode's (AAC decoded from before the interval)")
        }
        // A WAV (IEMOCAP's sound) read over an interval: sample for sample.
        let wav = folder.file("speech.wav")
        let tone = MP4WriterTests.tone(seconds: 3)
        try WAVFile.data(tone, sampleRate: 16_000).write(to: URL(fileURLWithPath: wav))
        let exact = try MediaReader(path: wav, interval: 1.25...2.5).audio()
        XCTAssertEqual(exact.count, 20_000)
        XCTAssertEqual(exact, Array(try MediaReader(path: wav).audio()[20_000..<40_000]))
    }

    func testIntervalsOutsideTheRecordingAreErrorsNamingBoth() throws {
        let folder = try TemporaryFolder()
        let path = try recording(folder)
        XCTAssertThrowsError(try MediaReader(path: path, interval: 5.0...9.0)) { error in
            XCTAssertEqual((error as? MediaError)?.reason, "truncated")
            XCTAssertTrue("\(error)".contains("5.000-9.000 s ends past the recording's 6.0"), "\(error)")
        }
        XCTAssertThrowsError(try MediaReader(path: path, interval: -1.0...2.0)) { XCTAssertEqual(($0 as? MediaError)?.reason, "undecodable") }
        XCTAssertNoThrow(try MediaReader(path: path, interval: 5.5...6.3), "rounded labels a little past the end are the end")
    }

    /// A `.clip` reference: the picture from one recording over an interval, the sound from another whole, both found in
    /// the workspace it names them from.
    func testAClipReferenceReadsItsParts() throws {
        let folder = try TemporaryFolder()
        _ = try recording(folder, name: "dialogue.avi")
        let wav = folder.file("speech.wav")
        try WAVFile.data(MP4WriterTests.tone(seconds: 1.5), sampleRate: 16_000).write(to: URL(fileURLWithPath: wav))
        let reference = ClipReference(video: .init(file: "dialogue.avi", sha256: "unchecked here", start: 3, end: 4.5),
                                      audio: .init(file: "speech.wav", sha256: "unchecked here"))
        try reference.encoded().write(to: URL(fileURLWithPath: folder.file("utterance.clip")))
        let source = try ClipSource(path: folder.file("utterance.clip"), workspace: folder.path)
        let picture = try source.videoReader(), sound = try source.audioReader()
        XCTAssertEqual(picture.duration, 1.5, accuracy: 1e-9)
        XCTAssertEqual(try picture.frames(count: 1)[0].image.pixels, try MediaReader(path: folder.file("dialogue.avi"), interval: 3...4.5).frames(count: 1)[0].image.pixels)
        XCTAssertEqual(try sound.audio(), try MediaReader(path: wav).audio())
        // Sound alone: asking for the picture says there is none, by the reference's name.
        try ClipReference(video: nil, audio: reference.audio).encoded().write(to: URL(fileURLWithPath: folder.file("sound.clip")))
        XCTAssertThrowsError(try ClipSource(path: folder.file("sound.clip"), workspace: folder.path).videoReader()) {
            XCTAssertEqual($0 as? MediaError, .noVideoStream(folder.file("sound.clip")))
        }
        try ClipReference(video: .init(file: "dialogue.avi", sha256: "", start: 3), audio: nil).encoded().write(to: URL(fileURLWithPath: folder.file("half.clip")))
        XCTAssertThrowsError(try ClipSource(path: folder.file("half.clip"), workspace: folder.path)) { error in
            XCTAssertTrue("\(error)".contains("dialogue.avi's part gives a start or an end alone"), "\(error)")
        }
        _ = FileManager.default.createFile(atPath: folder.file("broken.clip"), contents: Data("{\"video\": 3}".utf8))
        XCTAssertThrowsError(try ClipSource(path: folder.file("broken.clip"), workspace: folder.path)) { XCTAssertEqual(($0 as? MediaError)?.reason, "undecodable") }
    }
}
