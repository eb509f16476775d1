import EmotionStages
import Foundation
import Media
import Pipeline
import Synthesis
import TestSupport
import XCTest

/// One run over a folder of broken and awkward clips: every clip gets its typed reason or flag from each
/// media stage, no stage fails, and the good clip comes out whole.
final class BrokenClipTests: XCTestCase {
    func testEachBadClipGetsItsReasonAndTheRunFinishes() throws {
        let folder = try TemporaryFolder()
        let clips = folder.file("data/clips")
        try FileManager.default.createDirectory(atPath: clips, withIntermediateDirectories: true)

        // A good talking face, and the same clip in the shapes that break things.
        var params = SynthesisParams()
        params.dialogues = [.train: 1, .dev: 0, .test: 0]
        params.utterancesPerDialogue = 1
        params.plantFaults = false
        try DatasetSynthesizer.write(params, to: folder.file("synth"), threads: 1)
        let good = folder.file("synth/train_splits/dia0_utt0.mp4")
        try FileManager.default.copyItem(atPath: good, toPath: clips + "/good.mp4")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: good))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: clips + "/truncated.mp4"))
        var generator = SeededGenerator(seed: 7)
        try Data((0..<40_000).map { _ in UInt8.random(in: 0...255, using: &generator) }).write(to: URL(fileURLWithPath: clips + "/random.mp4"))
        _ = FileManager.default.createFile(atPath: clips + "/empty.mp4", contents: Data())
        let tone = (0..<16_000).map { Float(sin(Double($0) * 0.2)) * 0.3 }
        let radio = try MP4Writer(path: clips + "/audio_only.mp4", settings: .init(width: 64, height: 64, video: false))
        try radio.append(samples: tone)
        try radio.finish()
        let film = try MP4Writer(path: clips + "/no_audio.mp4", settings: .init(width: 64, height: 64, audio: false))
        for _ in 0..<24 { try film.append(frame: RGBImage(width: 64, height: 64)) }
        try film.finish()
        let quiet = try MP4Writer(path: clips + "/silent.mp4", settings: .init(width: 320, height: 240))
        for _ in 0..<24 { try quiet.append(frame: RGBImage(width: 320, height: 240)) }
        try quiet.append(samples: [Float](repeating: 0, count: 16_000))
        try quiet.finish()
        let tiny = try shell("/usr/bin/ffmpeg", ["-v", "error", "-y", "-f", "lavfi", "-i", "color=c=red:size=2x2:d=1,scale=1:1", "-f", "lavfi",
                                                 "-i", "sine=d=1", "-c:v", "libx264", "-pix_fmt", "yuv444p", "-shortest", clips + "/one_pixel.mp4"])
        XCTAssertEqual(tiny.status, 0, tiny.err)

        let yaml = """
            stages:
              probe: {uses: probe, map: {path: clips, glob: "*.mp4"}}
              faces: {uses: faces, map: {path: clips, glob: "*.mp4"}, params: {frames: 4}}
              mel: {uses: mel, map: {path: clips, glob: "*.mp4"}}
            """
        try Data(yaml.utf8).write(to: URL(fileURLWithPath: folder.file("broken.yaml")))
        let graph = try PipelineGraph(try PipelineSpec.load(file: folder.file("broken.yaml")), registry: ProjectStages.registry)
        let summary = try Runner(workspace: try Workspace(root: folder.file("data")), graph: graph, progress: Progress(quiet: true)).run()
        XCTAssertFalse(summary.failed, "\(summary.stages.map { ($0.name, $0.failures) })")
        XCTAssertEqual(summary.executed, 3 * 8)

        func status(_ stage: String, _ clip: String, _ file: String) throws -> String? {
            let data = try Data(contentsOf: URL(fileURLWithPath: folder.file("data/out/broken/\(stage)/\(clip)/\(file)")))
            return (try JSONSerialization.jsonObject(with: data) as? [String: Any])?["status"] as? String
        }
        let expected: [(clip: String, probe: String, faces: String, mel: String?)] = [
            ("good.mp4", "ok", "ok", nil),
            ("truncated.mp4", "truncated", "ok", "truncated"),
            ("random.mp4", "undecodable", "undecodable", "undecodable"),
            ("empty.mp4", "undecodable", "undecodable", "undecodable"),
            ("audio_only.mp4", "no_video_stream", "no_video_stream", nil),
            ("no_audio.mp4", "no_audio_stream", "no_face", "no_audio_stream"),
            ("silent.mp4", "silent", "no_face", nil),
            ("one_pixel.mp4", "ok", "no_face", nil),
        ]
        for clip in expected {
            XCTAssertEqual(try status("probe", clip.clip, "probe.json"), clip.probe, clip.clip)
            XCTAssertEqual(try status("faces", clip.clip, "faces.json"), clip.faces, clip.clip)
            if let mel = clip.mel {
                XCTAssertEqual(try status("mel", clip.clip, "mel.json"), mel, clip.clip)
            } else {
                XCTAssertTrue(FileManager.default.fileExists(atPath: folder.file("data/out/broken/mel/\(clip.clip)/mel.npy")), clip.clip)
            }
        }
    }
}
