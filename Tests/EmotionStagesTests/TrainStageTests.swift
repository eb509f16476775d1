import Foundation
import Safetensors
import TestSupport
import XCTest

/// The train stage through `emotion run`: its outputs land under out/, a run whose training job is killed fails naming
/// the stage and how its process ended, and the next run resumes from the checkpoint kept in the unit's resume folder,
/// which goes once the stage's outputs are recorded.
final class TrainStageTests: XCTestCase {
    static let pipeline = """
        stages:
          train:
            uses: train
            deps: [{path: tiny}]
            params: {workers: 2, batch: 2, threads: 1, epochs: 2, mel_frames: 16, warmup: 2, checkpoint_every: 2, max_steps: 6}
        """

    func testAKilledTrainingRunResumesFromItsCheckpoint() throws {
        let folder = try TemporaryFolder()
        try TinyShards.write(to: folder.file("tiny"))
        try Data(Self.pipeline.utf8).write(to: URL(fileURLWithPath: folder.file("p.yaml")))
        let emotion = productsDirectory() + "/emotion"
        let arguments = ["run", folder.file("p.yaml"), "--workspace", folder.path]

        let killed = try shell(emotion, arguments, environment: ["EMOTION_TRAIN_FAULT": "0:5:parent"])
        XCTAssertNotEqual(killed.status, 0)
        XCTAssertTrue(killed.err.contains("died of SIGKILL") && killed.err.contains("stage 'train'"), killed.err)
        let resume = folder.file("cache/resume")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: resume).count, 1, "the unit's resume folder is kept for the next run")

        let resumed = try shell(emotion, arguments)
        XCTAssertEqual(resumed.status, 0, resumed.err)
        let out = folder.file("out/p/train")
        let log = try String(contentsOfFile: out + "/train.log", encoding: .utf8)
        XCTAssertTrue(log.contains("resuming from the checkpoint at step 4"), log)
        for name in ["best.safetensors", "last.safetensors", "metrics.jsonl", "train.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/" + name), name)
        }
        XCTAssertEqual(try SafetensorsFile(path: out + "/last.safetensors").metadata["fusion"], "cross_attention")
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/train.json"))) as? [String: Any]
        XCTAssertEqual(summary?["steps"] as? Int, 6)
        XCTAssertEqual(summary?["workers"] as? Int, 2)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: resume), [], "the resume folder goes once the outputs are recorded")

        let again = try shell(emotion, arguments)
        XCTAssertEqual(again.status, 0, again.err)
        XCTAssertEqual(unitsExecuted(again.err + String(decoding: again.out, as: UTF8.self)), 0, again.err)
    }
}
