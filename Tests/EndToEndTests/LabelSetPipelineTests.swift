import Foundation
import Labels
import ModelContract
import ONNX
import Safetensors
import TestSupport
import XCTest

/// The label set travels with the data: a generated dataset of four of MELD's emotions, cleaned with those four, is
/// indexed, trained, evaluated, exported and served as a four-class model, with no stage told the number.
final class LabelSetPipelineTests: XCTestCase {
    func testFourLabelsFromGenerationToInference() throws {
        let folder = try TemporaryFolder()
        let emotion = productsDirectory() + "/emotion", data = folder.file("data")
        let four = try LabelSet(["neutral", "joy", "sadness", "anger"])
        let made = try shell(emotion, ["synth", "--out", data + "/MELD.Raw", "--seed", "5", "--dialogues", "3,1,2", "--utterances", "2",
                                       "--width", "320", "--height", "180", "--labels", four.joined, "--no-faults"])
        XCTAssertEqual(made.status, 0, made.err)
        let pipeline = """
            stages:
              probe: {uses: probe, map: {path: MELD.Raw, glob: "**/*.mp4"}}
              clean: {uses: clean, deps: [MELD.Raw, probe], params: {labels: [\(four.joined)]}}
              faces: {uses: faces, map: {path: MELD.Raw, glob: "**/*.mp4"}, params: {frames: 2, size: 32}}
              mel: {uses: mel, map: {path: MELD.Raw, glob: "**/*.mp4"}}
              shards: {uses: shards, map: faces, join: [mel, {stage: clean, under: rows}], params: {shards: 2}}
              shard_index: {uses: shard_index, deps: [shards, clean]}
              train: {uses: train, deps: [shard_index, shards], params: {workers: 1, batch: 2, threads: 1, epochs: 1, mel_frames: 16, warmup: 1, max_steps: 2, class_weights: balanced}}
              evaluate: {uses: evaluate, deps: [train, shard_index, shards], params: {splits: [test, dev], bootstrap: 10, threads: 2}}
              export: {uses: export, deps: [train, evaluate, shard_index, shards]}

            """
        try Data(pipeline.utf8).write(to: URL(fileURLWithPath: folder.file("p.yaml")))
        let run = try shell(emotion, ["run", folder.file("p.yaml"), "--workspace", data])
        XCTAssertEqual(run.status, 0, run.err)
        let out = data + "/out/p"

        // Generated with four labels only; the cleaning names the set; the index records it.
        let truth = try String(contentsOfFile: data + "/MELD.Raw/synthesis/truth.csv", encoding: .utf8)
        let drawn = Set(truth.split(separator: "\n").dropFirst().map { String($0.split(separator: ",")[3]) })
        XCTAssertTrue(drawn.isSubset(of: Set(four.names)) && drawn.count > 1, "\(drawn)")
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/clean/report.json"))) as! [String: Any]
        XCTAssertEqual(report["classes"] as? [String], four.names)
        let index = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/shard_index/train/index.json"))) as! [String: Any]
        XCTAssertEqual(index["classes"] as? [String], four.names)

        // Training sized the classifier from it.
        let summary = try TrainingSummary.read(out + "/train/train.json")
        XCTAssertEqual(summary.classes, four)
        let weights = try SafetensorsFile(path: out + "/train/best.safetensors")
        XCTAssertEqual(try weights.entry("classifier.6.weight").shape, [4, 128])
        XCTAssertEqual(weights.metadata["classes"], four.joined)

        // The evaluation names its classes.
        let metrics = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/evaluate/metrics.json"))) as! [String: Any]
        XCTAssertEqual(metrics["classes"] as? [String], four.names)
        let test = metrics["test"] as! [String: Any]
        XCTAssertEqual((test["confusion"] as? [[Int]])?.count, 4)
        XCTAssertEqual(Set((test["per_class"] as! [String: Any]).keys), Set(four.names))

        // The export's ONNX graph outputs (batch, 4), and model_info.json says so.
        let info = try ModelInfo.read(out + "/export/model_info.json")
        XCTAssertEqual(info.classes, four)
        XCTAssertEqual(info.outputs["logits"], ["batch", "4"])
        let graph = try Onnx_ModelProto(serializedBytes: try Data(contentsOf: URL(fileURLWithPath: out + "/export/model.onnx"))).graph
        let logits = try XCTUnwrap(graph.output.first { $0.name == "logits" })
        XCTAssertEqual(logits.type.tensorType.shape.dim.map { $0.dimParam.isEmpty ? "\($0.dimValue)" : $0.dimParam }, ["batch", "4"])
        XCTAssertEqual(try Onnx_ModelProto(serializedBytes: try Data(contentsOf: URL(fileURLWithPath: out + "/export/model.onnx")))
                        .metadataProps.first { $0.key == "classes" }?.value, four.joined)

        // Served: each clip labelled with one of the four, four probabilities each.
        let clips = try FileManager.default.subpathsOfDirectory(atPath: data + "/MELD.Raw").filter { $0.hasSuffix(".mp4") }.sorted().prefix(3)
        let inferred = try shell(emotion, ["infer", "--model", out + "/export", "--threads", "2"] + clips.map { data + "/MELD.Raw/" + $0 })
        XCTAssertEqual(inferred.status, 0, inferred.err)
        let lines = String(decoding: inferred.out, as: UTF8.self).split(separator: "\n")
            .map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        XCTAssertEqual(lines.count, clips.count)
        for line in lines {
            XCTAssertTrue(four.names.contains(line["label"] as? String ?? ""), "\(line)")
            XCTAssertEqual((line["probabilities"] as? [Double])?.count, 4, "\(line)")
        }
    }
}
