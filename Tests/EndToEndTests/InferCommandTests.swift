import Foundation
import OneDNN
import TestSupport
import XCTest

/// `emotion infer` on generated clips gives the probabilities the evaluate stage gave the same clips (the same faces,
/// log-mel and window, so what is served is what was trained and evaluated); a file without audio, one without video and
/// one of random bytes each get their line, and the run goes on past the bad one.
final class InferCommandTests: XCTestCase {
    func testInferGivesEvaluationsProbabilitiesAndLabelsAnyFile() throws {
        let tiny = try TinyTrainedModel()
        let (folder, emotion) = (tiny.folder, tiny.emotion)
        let evaluated = try tiny.evaluated()
        XCTAssertGreaterThan(evaluated.count, 1)
        let clips = evaluated.map { tiny.file($0["clip"] as! String) }

        // Derived files: a clip with a face, without its audio and without its video; then bytes no decoder reads.
        let source = try XCTUnwrap(evaluated.firstIndex { $0["face_found"] as? Bool == true }, "a generated clip with a face")
        let (silent, voice, garbage) = (folder.file("silent.mp4"), folder.file("voice.m4a"), folder.file("garbage.mp4"))
        for (arguments, out) in [(["-an", "-c:v", "copy"], silent), (["-vn", "-c:a", "copy"], voice)] {
            let made = try shell("/usr/bin/ffmpeg", ["-v", "error", "-y", "-i", clips[source]] + arguments + [out])
            XCTAssertEqual(made.status, 0, made.err)
        }
        try Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7919 >> 3) }).write(to: URL(fileURLWithPath: garbage))
        // A float WAV whose samples turn NaN half-way (issue 27, case 7: it gave finite probabilities as if whole).
        let poisoned = folder.file("nan.wav")
        try Self.floatWAV((0..<16_000).map { $0 < 8_000 ? sinf(Float($0) * 0.05) * 0.3 : .nan }, rate: 16_000).write(to: URL(fileURLWithPath: poisoned))

        let files = clips + [silent, garbage, voice, poisoned]
        let inferred = try shell(emotion, ["infer", "--model", tiny.model, "--threads", "2", "--batch", "3"] + files)
        XCTAssertEqual(inferred.status, 1, "a file could not be read: " + inferred.err)
        XCTAssertTrue(inferred.err.contains("2 of \(files.count) file(s) could not be labelled"), inferred.err)
        let lines = String(decoding: inferred.out, as: UTF8.self).split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        XCTAssertEqual(lines.map { $0["file"] as? String }, files)

        for (line, evaluation) in zip(lines, evaluated) {
            let (ours, theirs) = (line["probabilities"] as! [Double], evaluation["probabilities"] as! [Double])
            for (a, b) in zip(ours, theirs) { XCTAssertEqual(a, b, accuracy: 1e-5, "\(line["file"]!)") }
            XCTAssertEqual(line["label"] as? String, evaluation["predicted"] as? String)
            XCTAssertEqual(line["face_found"] as? Bool, evaluation["face_found"] as? Bool)
            XCTAssertEqual(line["mode"] as? String, "face_and_voice")
            XCTAssertEqual(line["frames_sampled"] as? Int, 2)
            XCTAssertEqual(line["confidence"] as? Double, ours.max())
        }
        let (faceOnly, bad, voiceOnly) = (lines[clips.count], lines[clips.count + 1], lines[clips.count + 2])
        XCTAssertEqual(faceOnly["mode"] as? String, "face_only")
        XCTAssertEqual(faceOnly["audio"] as? Bool, false)
        XCTAssertNil(faceOnly["audio_window"])
        XCTAssertEqual(voiceOnly["mode"] as? String, "voice_only")
        XCTAssertEqual(voiceOnly["video"] as? Bool, false)
        XCTAssertNil(voiceOnly["face_found"])
        for line in [faceOnly, voiceOnly] {
            XCTAssertEqual((line["probabilities"] as? [Double])?.reduce(0, +) ?? 0, 1, accuracy: 1e-5)
            XCTAssertNil(line["error"])
        }
        // The voice alone is the clip's voice: not what the face and voice together gave, nor what silence gives.
        XCTAssertNotEqual(voiceOnly["probabilities"] as? [Double], lines[source]["probabilities"] as? [Double])
        XCTAssertNotEqual(voiceOnly["probabilities"] as? [Double], faceOnly["probabilities"] as? [Double])
        XCTAssertTrue((bad["error"] as? String)?.contains(garbage) == true, "\(bad)")
        XCTAssertNil(bad["probabilities"])
        let nan = lines[clips.count + 3]
        XCTAssertTrue((nan["error"] as? String)?.contains("\(poisoned): cannot be decoded (the audio holds 8000 samples that are not finite numbers (NaN or infinity), the first at 0.500 s)") == true, "\(nan)")
        XCTAssertNil(nan["probabilities"])
    }

    /// On scenes of two people, `infer` takes the face the faces stage took (with `speaker: active`, decoding the clip
    /// again to follow lips), so it gives the evaluation's probabilities there too.
    func testInferChoosesTheSpeakingFaceAsTheStageDid() throws {
        let tiny = try TinyTrainedModel(people: 2)
        let evaluated = try tiny.evaluated()
        let clips = evaluated.map { tiny.file($0["clip"] as! String) }
        let records = try evaluated.map { evaluation -> [String: Any] in
            let path = tiny.data + "/out/p/faces/\(evaluation["clip"] as! String)/faces.json"
            return try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        }
        XCTAssertTrue(records.contains { ($0["speaker"] as? [String: Any])?["analysisFrames"] as? Int ?? 0 > 0 }, "some clip's lips were followed: \(records.map { $0["speaker"] ?? $0["tracks"] ?? "" })")
        let inferred = try shell(tiny.emotion, ["infer", "--model", tiny.model, "--threads", "2"] + clips)
        XCTAssertEqual(inferred.status, 0, inferred.err)
        let lines = String(decoding: inferred.out, as: UTF8.self).split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        XCTAssertEqual(lines.count, clips.count)
        for (line, evaluation) in zip(lines, evaluated) {
            for (a, b) in zip(line["probabilities"] as! [Double], evaluation["probabilities"] as! [Double]) { XCTAssertEqual(a, b, accuracy: 1e-5, "\(line["file"]!)") }
        }
    }

    /// A mono 32-bit float WAV file of `samples`.
    /// `--precision int8` serves the export's int8 model: probabilities near the float ones (a face trunk on integer
    /// instructions, calibrated on the dev clips); an export without its activation scales, or with broken ones, is
    /// refused naming the file.
    func testInt8ServesTheExportsCalibratedModel() throws {
        let tiny = try TinyTrainedModel()
        let exported = tiny.folder.file("export")
        let made = try shell(tiny.emotion, ["export", "--model", tiny.model, "--shards", tiny.data + "/out/p/shards", "--out", exported])
        XCTAssertEqual(made.status, 0, made.err)
        let clips = try tiny.evaluated().map { tiny.file($0["clip"] as! String) }
        let (float, int8) = (try probabilities(tiny, exported, "fp32", clips), try probabilities(tiny, exported, "int8", clips))
        XCTAssertEqual(float.count, clips.count)
        let gaps = zip(float, int8).flatMap { zip($0, $1).map { abs($0 - $1) } }
        XCTAssertGreaterThan(gaps.max()!, 0, "the int8 model ran")
        XCTAssertLessThan(gaps.max()!, 0.05, "int8 probabilities stray from the float ones")

        let calibration = exported + "/model_int8.json"
        let text = try String(contentsOfFile: calibration, encoding: .utf8)
        for (broken, expected) in [(text.replacingOccurrences(of: "\"block3.conv1\"", with: "\"block3.conv9\""), "no scale for block3.conv1"),
                                   (text.replacingOccurrences(of: "\"scale\" : ", with: "\"scale\" : -"), "expected a finite number above 0"),
                                   (String(text.prefix(40)), "not a calibration")] {
            try broken.write(toFile: calibration, atomically: true, encoding: .utf8)
            let refused = try shell(tiny.emotion, ["infer", "--model", exported, "--precision", "int8", clips[0]])
            XCTAssertEqual(refused.status, 1)
            XCTAssertTrue(refused.err.contains(calibration) && refused.err.contains(expected), refused.err)
        }
        try FileManager.default.removeItem(atPath: calibration)
        let missing = try shell(tiny.emotion, ["infer", "--model", exported, "--precision", "int8", clips[0]])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.err.contains("has no model_int8.json"), missing.err)
    }

    /// bf16 serves the float weights with bf16 operands: close to fp32's probabilities, not equal to them; refused where
    /// the CPU (capped below AVX512_BF16 here, as one without it reports) would only emulate it.
    func testBF16ServesTheFloatModelWhereTheCPUHasIt() throws {
        let tiny = try TinyTrainedModel()
        let clips = try tiny.evaluated().map { tiny.file($0["clip"] as! String) }
        let refused = try shell(tiny.emotion, ["infer", "--model", tiny.model, "--precision", "bf16", clips[0]], environment: ["ONEDNN_MAX_CPU_ISA": "AVX2"])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.err.contains("--precision bf16") && refused.err.contains("AVX512_BF16"), refused.err)
        if let why = Precision.bf16.unsupported { throw XCTSkip(why) }
        let (float, bf16) = (try probabilities(tiny, tiny.model, "fp32", clips), try probabilities(tiny, tiny.model, "bf16", clips))
        XCTAssertEqual(bf16.count, clips.count)
        let gaps = zip(float, bf16).flatMap { zip($0, $1).map { abs($0 - $1) } }
        XCTAssertGreaterThan(gaps.max()!, 0, "the bf16 model ran")
        XCTAssertLessThan(gaps.max()!, 0.05, "bf16 probabilities stray from the float ones")
    }

    /// Each clip's probabilities from `emotion infer --model MODEL --precision PRECISION` on two threads.
    private func probabilities(_ tiny: TinyTrainedModel, _ model: String, _ precision: String, _ clips: [String]) throws -> [[Double]] {
        let run = try shell(tiny.emotion, ["infer", "--model", model, "--precision", precision, "--threads", "2"] + clips)
        XCTAssertEqual(run.status, 0, run.err)
        return String(decoding: run.out, as: UTF8.self).split(separator: "\n").map {
            (try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any])["probabilities"] as! [Double]
        }
    }

    static func floatWAV(_ samples: [Float], rate: UInt32) -> Data {
        var data = Data()
        func add<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) } }
        let bytes = UInt32(samples.count * 4)
        data.append(contentsOf: Array("RIFF".utf8)); add(36 + bytes); data.append(contentsOf: Array("WAVEfmt ".utf8))
        add(UInt32(16)); add(UInt16(3)); add(UInt16(1)); add(rate); add(rate * 4); add(UInt16(4)); add(UInt16(32))
        data.append(contentsOf: Array("data".utf8)); add(bytes)
        for sample in samples { add(sample.bitPattern) }
        return data
    }
}
