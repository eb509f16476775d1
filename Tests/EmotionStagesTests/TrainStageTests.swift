import Foundation
import Safetensors
import TestSupport
import XCTest

/// The train stage through `emotion run`: its outputs land under out/, a run whose training job is killed fails naming
/// the stage and how its process ended, and the next run resumes from the checkpoint kept in the unit's resume folder,
/// which goes once the stage's outputs are recorded. The evaluate stage after it accounts for every clip, and its
/// figures are scikit-learn's on its own predictions.
final class TrainStageTests: XCTestCase {
    static let pipeline = """
        stages:
          train:
            uses: train
            deps: [{path: tiny}]
            params: {workers: 2, batch: 2, threads: 1, epochs: 2, mel_frames: 16, warmup: 2, checkpoint_every: 2, max_steps: 6}
          evaluate:
            uses: evaluate
            deps: [train, {path: tiny}]
            params: {splits: [dev, train], bootstrap: 200}
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

        try checkEvaluation(folder.file("out/p/evaluate"))

        let again = try shell(emotion, arguments)
        XCTAssertEqual(again.status, 0, again.err)
        XCTAssertEqual(unitsExecuted(again.err + String(decoding: again.out, as: UTF8.self)), 0, again.err)
    }

    private func checkEvaluation(_ out: String) throws {
        let metrics = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/metrics.json"))) as! [String: [String: Any]]
        XCTAssertEqual(Set(metrics.keys), ["dev", "train"])
        XCTAssertEqual(metrics["dev"]?["clips"] as? Int, 5)
        XCTAssertEqual(metrics["train"]?["clips"] as? Int, 12)
        let lines = try String(contentsOfFile: out + "/predictions.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 17)
        for line in lines {
            let record = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            let probabilities = record["probabilities"] as! [Double]
            XCTAssertEqual(probabilities.count, 7)
            XCTAssertEqual(probabilities.reduce(0, +), 1, accuracy: 1e-5)
        }
        let html = try String(contentsOfFile: out + "/report.html", encoding: .utf8)
        XCTAssertTrue(html.contains("<svg") && html.contains("always neutral") && !html.contains("<script"), "report.html")
        // scikit-learn, where importable, on the stage's own predictions.
        let python = """
            import json, sys
            from sklearn.metrics import accuracy_score, f1_score
            rows = [json.loads(l) for l in open(sys.argv[1] + "/predictions.jsonl")]
            metrics = json.load(open(sys.argv[1] + "/metrics.json"))
            for split in ("dev", "train"):
                t = [r["truth"] for r in rows if r["split"] == split]; p = [r["predicted"] for r in rows if r["split"] == split]
                m = metrics[split]
                assert abs(accuracy_score(t, p) - m["accuracy"]) < 1e-12, (split, "accuracy")
                assert abs(f1_score(t, p, average="weighted", zero_division=0) - m["weighted_f1"]) < 1e-12, (split, "weighted")
                assert abs(f1_score(t, p, average="macro", zero_division=0) - m["macro_f1"]) < 1e-12, (split, "macro")
            print("agree")
            """
        let check = try shell("/usr/bin/env", ["python3", "-c", python, out])
        if check.err.contains("No module named") {
            print("scikit-learn is not importable: the evaluation's figures are not compared with it here")
        } else {
            XCTAssertEqual(String(decoding: check.out, as: UTF8.self), "agree\n", check.err)
        }
    }
}
