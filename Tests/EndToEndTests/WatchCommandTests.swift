import Foundation
import TestSupport
import XCTest

/// `emotion watch` on generated clips played back to back: as a file (a prediction every 1/rate s of input, the
/// session record in the reference format and consistent with the predictions printed), as a live stream served on
/// loopback by a child ffmpeg that stops mid-way (the record is still written, the end is said), and under signals
/// (a snapshot on SIGUSR1, a clean end on SIGINT).
final class WatchCommandTests: XCTestCase {
    private var tiny: TinyTrainedModel!
    private var long: String { tiny.folder.file("long.mp4") }
    private var duration = 0.0

    override func setUpWithError() throws {
        tiny = try TinyTrainedModel()
        try tiny.playlist(try tiny.evaluated().map { tiny.file($0["clip"] as! String) }, to: long)
        duration = try TinyTrainedModel.duration(long)
        XCTAssertGreaterThan(duration, 6)
    }

    private func record(_ path: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
    }

    func testAFileGivesAPredictionEveryHalfSecondAndARecordInTheReferenceFormat() throws {
        let session = tiny.folder.file("file.json")
        let annotated = tiny.folder.file("annotated.mp4")
        let run = try shell(tiny.emotion, ["watch", "--model", tiny.model, "--input", long, "--session", session, "--rate", "2", "--out", annotated])
        XCTAssertEqual(run.status, 0, run.err)
        XCTAssertTrue(run.err.contains("the input ended"), run.err)
        // The annotated video, as ffprobe reads it: H.264 of the input's size and AAC, as long as the input.
        let streams = try shell("/usr/bin/ffprobe", ["-v", "error", "-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0", annotated])
        XCTAssertEqual(String(decoding: streams.out, as: UTF8.self).split(separator: "\n").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: ",")) },
                       ["h264,320,180", "aac"], streams.err)
        let length = try shell("/usr/bin/ffprobe", ["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", annotated])
        XCTAssertEqual(Double(String(decoding: length.out, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0, duration, accuracy: 0.3)
        let printed = String(decoding: run.out, as: UTF8.self).split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        let saved = try record(session)
        let info = saved["session_info"] as! [String: Any], statistics = saved["emotion_statistics"] as! [String: Any]
        let results = saved["detailed_results"] as! [[String: Any]]
        XCTAssertEqual(results.count, printed.count)
        XCTAssertEqual(info["total_detections"] as? Int, results.count)
        XCTAssertEqual(Double(results.count), (duration * 2).rounded(.down), accuracy: 1)
        XCTAssertEqual(info["duration_seconds"] as? Double ?? 0, duration, accuracy: 0.2)
        XCTAssertNotNil(ISO8601DateFormatter().date(from: info["start_time"] as? String ?? ""), "\(info)")
        for (index, result) in results.enumerated() {
            XCTAssertEqual(result["timestamp"] as? Double ?? 0, Double(index + 1) / 2, accuracy: 1e-9)
            let probabilities = result["probabilities"] as! [String: Double]
            XCTAssertEqual(Set(probabilities.keys), ["neutral", "joy", "sadness", "anger", "surprise", "fear", "disgust"])
            XCTAssertEqual(probabilities.values.reduce(0, +), 1, accuracy: 1e-5)
            XCTAssertEqual(result["confidence"] as? Double, probabilities.values.max())
            XCTAssertEqual(probabilities[result["emotion"] as! String], probabilities.values.max())
            XCTAssertTrue(["face_and_voice", "voice_only", "face_only", "neither"].contains(result["mode"] as? String ?? ""), "\(result)")
        }
        XCTAssertTrue(results.contains { $0["mode"] as? String == "face_and_voice" }, "the generated faces are found and their voices heard")
        let distribution = statistics["distribution"] as! [String: Int]
        XCTAssertEqual(distribution.values.reduce(0, +), results.count)
        for (emotion, count) in distribution { XCTAssertEqual(count, results.filter { $0["emotion"] as? String == emotion }.count, emotion) }
        XCTAssertEqual(distribution[statistics["dominant_emotion"] as! String], distribution.values.max())
        let confidences = results.map { $0["confidence"] as! Double }
        XCTAssertEqual(statistics["average_confidence"] as? Double ?? 0, confidences.reduce(0, +) / Double(confidences.count), accuracy: 1e-9)
    }

    /// A camera and a microphone are two sources: the video of one file and the audio of another, read together, give
    /// what the file with both gives; and so do devices through libavdevice (its `lavfi` device, a filter graph that
    /// plays the file, stands in for a camera and a microphone: none exists here), as one device or two.
    func testVideoAndAudioFromTwoSourcesOrDevicesReadAsOne() throws {
        let (picture, sound) = (tiny.folder.file("picture.mp4"), tiny.folder.file("sound.m4a"))
        for (arguments, out) in [(["-an", "-c:v", "copy"], picture), (["-vn", "-c:a", "copy"], sound)] {
            let made = try shell("/usr/bin/ffmpeg", ["-v", "error", "-y", "-i", long] + arguments + [out])
            XCTAssertEqual(made.status, 0, made.err)
        }
        func results(_ arguments: [String], _ name: String) throws -> [[String: Any]] {
            let session = tiny.folder.file(name)
            let run = try shell(tiny.emotion, ["watch", "--model", tiny.model, "--session", session] + arguments)
            XCTAssertEqual(run.status, 0, run.err)
            return try record(session)["detailed_results"] as! [[String: Any]]
        }
        let together = try results(["--input", long], "together.json")
        for (arguments, name) in [(["--input", picture, "--audio", sound], "apart.json"),
                                  (["--input", "lavfi:movie=\(long)[out0];amovie=\(long)[out1]"], "device.json"),
                                  (["--input", "lavfi:movie=\(long)", "--audio", "lavfi:amovie=\(long)"], "devices.json")] {
            let apart = try results(arguments, name)
            XCTAssertEqual(apart.map { $0["timestamp"] as! Double }, together.map { $0["timestamp"] as! Double }, name)
            XCTAssertEqual(apart.map { $0["mode"] as! String }, together.map { $0["mode"] as! String }, name)
            var worst = 0.0
            for (a, b) in zip(apart, together) {
                let (p, q) = (a["probabilities"] as! [String: Double], b["probabilities"] as! [String: Double])
                worst = max(worst, p.keys.map { abs(p[$0]! - q[$0]!) }.max()!)
            }
            XCTAssertEqual(worst, 0, "\(name): the same window of the same input, whichever source each half came from and however they interleave")
        }
    }

    /// The device kinds are listed without a model; a device is named by any of its kind's names (`v4l2` for
    /// libavdevice's `video4linux2,v4l2`), and one that cannot be opened is an error naming it.
    func testDevicesAreListedAndAMissingCameraIsNamed() throws {
        let listed = try shell(tiny.emotion, ["watch", "--list-devices"])
        XCTAssertEqual(listed.status, 0, listed.err)
        let kinds = String(decoding: listed.out, as: UTF8.self).split(separator: "\n").map { String($0.split(separator: "\t")[0]) }
        XCTAssertTrue(kinds.contains("lavfi") && kinds.contains { $0.split(separator: ",").contains("v4l2") }, "\(kinds)")
        let camera = "v4l2:/dev/video-absent-\(getpid())"
        let run = try shell(tiny.emotion, ["watch", "--model", tiny.model, "--input", camera, "--session", tiny.folder.file("camera.json")])
        XCTAssertEqual(run.status, 1)
        XCTAssertTrue(run.err.contains("error: \(camera): ") && run.err.contains("No such file or directory"), run.err)
    }

    func testALiveStreamThatStopsMidWayStillGetsItsRecord() throws {
        let port = 20_000 + Int(getpid() % 20_000)
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/ffmpeg")
        server.arguments = ["-v", "error", "-re", "-i", long, "-c", "copy", "-f", "mpegts", "tcp://127.0.0.1:\(port)?listen=1"]
        try server.run()
        defer { if server.isRunning { kill(server.processIdentifier, SIGKILL) } }
        usleep(700_000)
        // The server stops 3 s into the stream, as a camera unplugged or a network gone.
        DispatchQueue.global().asyncAfter(deadline: .now() + 3.5) { kill(server.processIdentifier, SIGKILL) }
        let session = tiny.folder.file("stream.json")
        let started = Date()
        let run = try shell(tiny.emotion, ["watch", "--model", tiny.model, "--input", "tcp://127.0.0.1:\(port)", "--session", session])
        let elapsed = Date().timeIntervalSince(started)
        XCTAssertTrue(run.err.contains("the input ended at") || run.err.contains("the input stopped at"), run.err)
        let saved = try record(session)
        let results = saved["detailed_results"] as! [[String: Any]]
        let seen = (saved["session_info"] as! [String: Any])["duration_seconds"] as! Double
        XCTAssertGreaterThan(results.count, 2)
        XCTAssertLessThan(seen, duration - 1, "the stream stopped before the file's end")
        XCTAssertLessThan(elapsed, duration + 10, "the end of the stream is noticed")
        XCTAssertEqual((saved["session_info"] as! [String: Any])["source"] as? String, "tcp://127.0.0.1:\(port)")
    }

    func testSnapshotOnSIGUSR1AndACleanEndOnSIGINT() throws {
        let session = tiny.folder.file("signals.json")
        let watch = Process()
        watch.executableURL = URL(fileURLWithPath: tiny.emotion)
        watch.arguments = ["watch", "--model", tiny.model, "--input", long, "--session", session, "--realtime"]
        let (out, err) = (Pipe(), Pipe())
        watch.standardOutput = out
        watch.standardError = err
        try watch.run()
        usleep(2_500_000)
        kill(watch.processIdentifier, SIGUSR1)
        usleep(1_500_000)
        let snapshot = try record(session)
        // The snapshot's frame, as ffprobe reads it: a JPEG of the video's size.
        let still = try shell("/usr/bin/ffprobe", ["-v", "error", "-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0",
                                                   tiny.folder.file("signals-snapshot-1.jpg")])
        XCTAssertEqual(String(decoding: still.out, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines), "mjpeg,320,180", still.err)
        kill(watch.processIdentifier, SIGINT)
        let printed = out.fileHandleForReading.readDataToEndOfFile()
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        watch.waitUntilExit()
        XCTAssertEqual(watch.terminationStatus, 0, message)
        XCTAssertTrue(message.contains("snapshot 1: \(session)") && message.contains("stopped at"), message)
        let final = try record(session)
        let (before, after) = ((snapshot["detailed_results"] as! [Any]).count, (final["detailed_results"] as! [Any]).count)
        XCTAssertGreaterThan(before, 0)
        XCTAssertGreaterThanOrEqual(after, before)
        XCTAssertLessThan(final["session_info"].flatMap { ($0 as! [String: Any])["duration_seconds"] as? Double } ?? duration, duration - 1,
                          "played at its own pace, the session was stopped before the file's end")
        XCTAssertEqual(String(decoding: printed, as: UTF8.self).split(separator: "\n").count, after)
    }

    /// Issue 27, case 9: an RTSP server that accepts and never answers, and `udp://` with nobody sending, each waited
    /// forever; SIGINT while connecting left no session record. Now every wait ends after --timeout, and every ending
    /// writes the record, saying how it ended.
    func testAStreamThatNeverAnswersTimesOutAndAStopWhileConnectingKeepsTheRecord() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(listener, 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        // Connections complete in the kernel's backlog and are never accepted: a server that never answers.
        XCTAssertEqual(withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) } }, 0)
        XCTAssertEqual(listen(listener, 8), 0)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } }
        let port = Int(UInt16(bigEndian: address.sin_port))

        for input in ["rtsp://127.0.0.1:\(port)/x", "udp://127.0.0.1:\(port + 1)", "tcp://127.0.0.1:\(port)"] {
            let session = tiny.folder.file("silent-\(input.prefix(3)).json")
            let started = Date()
            let run = try shell(tiny.emotion, ["watch", "--model", tiny.model, "--input", input, "--session", session, "--timeout", "1.5"])
            let elapsed = Date().timeIntervalSince(started)
            XCTAssertEqual(run.status, 1, input)
            XCTAssertTrue(run.err.contains("error: \(input)") && run.err.contains("no data for 1.5 s (the read timed out)"), "\(input): \(run.err)")
            XCTAssertLessThan(elapsed, 12, "\(input): the wait is bounded")
            let info = try record(session)["session_info"] as! [String: Any]
            XCTAssertEqual(info["ending"] as? String, "the input stopped", input)
            XCTAssertEqual(info["total_detections"] as? Int, 0, input)
            XCTAssertTrue((info["error"] as? String)?.contains("timed out") == true, "\(info)")
        }

        let session = tiny.folder.file("interrupted.json")
        let watch = Process()
        watch.executableURL = URL(fileURLWithPath: tiny.emotion)
        watch.arguments = ["watch", "--model", tiny.model, "--input", "rtsp://127.0.0.1:\(port)/x", "--session", session, "--timeout", "120"]
        let err = Pipe()
        watch.standardError = err
        watch.standardOutput = FileHandle.nullDevice
        try watch.run()
        usleep(2_000_000)
        let stopped = Date()
        kill(watch.processIdentifier, SIGINT)
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        watch.waitUntilExit()
        XCTAssertLessThan(Date().timeIntervalSince(stopped), 5, "SIGINT ends the wait")
        XCTAssertEqual(watch.terminationStatus, 0, message)
        XCTAssertTrue(message.contains("stopped at 0.0 s"), message)
        let info = try record(session)["session_info"] as! [String: Any]
        XCTAssertEqual(info["ending"] as? String, "stopped")
        XCTAssertNil(info["error"])
    }
}
