import EmotionModel
import Foundation
import NN
import Safetensors
import Tensor
import TestSupport
import XCTest

/// `emotion forward`: a state dictionary and inputs in, logits out, checked against PyTorch's logits for the
/// same hashinit weights; and each way a weights file can fail to fit, reported by name.
final class ForwardCommandTests: XCTestCase {
    let emotion = productsDirectory() + "/emotion"

    /// Writes the hashinit state dictionary of `fusion` and the fixtures' inputs; returns their paths.
    func prepare(_ fusion: Fusion, in folder: TemporaryFolder) throws -> (weights: String, inputs: String) {
        let model = EmotionModel(fusion: fusion, classes: referenceClasses.count, dropout: 0)
        model.hashInitialize()
        let weights = folder.file("weights.safetensors"), inputs = folder.file("inputs.safetensors")
        try model.saveStateDictionary(to: weights)
        var writer = SafetensorsWriter()
        let frames = HashInit.input(name: "input.frames", shape: [2, 2, 3, 224, 224], scale: 2)
        let mel = HashInit.input(name: "input.mel", shape: [2, 1, 64, 64], scale: 2)
        writer.add("frames", shape: frames.shape, floats: frames.scalars)
        writer.add("mel", shape: mel.shape, floats: mel.scalars)
        try writer.write(to: inputs)
        return (weights, inputs)
    }

    func testLogitsMatchPyTorch() throws {
        let fixture = try SafetensorsFile(path: try Shared.path("reference/model/cross_attention.safetensors"))
        let folder = try TemporaryFolder()
        var (weights, inputs) = try prepare(.crossAttention, in: folder)

        // Where PyTorch is installed, let it write the weights file, as a researcher's would be.
        let python = "import sys, safetensors.torch as s; s.save_file(s.load_file(sys.argv[1]), sys.argv[2])"
        if let run = try? shell("/usr/bin/env", ["python3", "-c", python, weights, folder.file("torch.safetensors")]), run.status == 0 {
            weights = folder.file("torch.safetensors")
        } else {
            print("python3 with torch and safetensors is absent: the weights come from this project's writer only")
        }
        for (mode, key) in [("eval", "eval.logits"), ("train", "train.logits")] {
            let out = folder.file("\(mode).safetensors")
            let run = try shell(emotion, ["forward", "--fusion", "cross_attention", "--weights", weights, "--inputs", inputs, "--out", out]
                                + (mode == "train" ? ["--train"] : []))
            XCTAssertEqual(run.status, 0, run.err)
            let logits = try SafetensorsFile(path: out).floats("logits")
            let error = Tolerance.forward(logits, try fixture.floats(key))
            XCTAssertLessThanOrEqual(error, 1e-4, "\(mode) logits: error \(error)")
        }
    }

    func testWeightsThatDoNotFit() throws {
        let folder = try TemporaryFolder()
        let (weights, inputs) = try prepare(.concat, in: folder)
        let original = try SafetensorsFile(path: weights)
        func rewrite(_ edit: (inout [(String, [Int], [Float]?, [Int64]?)]) -> Void) throws -> String {
            var items: [(String, [Int], [Float]?, [Int64]?)] = try original.names.map { name in
                let entry = try original.entry(name)
                return entry.dtype == .f32 ? (name, entry.shape, try original.floats(name), nil) : (name, entry.shape, nil, try original.int64s(name))
            }
            edit(&items)
            var writer = SafetensorsWriter()
            for (name, shape, floats, ints) in items {
                if let floats { writer.add(name, shape: shape, floats: floats) } else { writer.add(name, shape: shape, int64s: ints!) }
            }
            let path = folder.file("edited.safetensors")
            try writer.write(to: path)
            return path
        }
        func expectFailure(_ weights: String, inputs: String, mentions: [String], line: UInt = #line) throws {
            let run = try shell(emotion, ["forward", "--fusion", "concat", "--weights", weights, "--inputs", inputs, "--out", folder.file("o.safetensors")])
            XCTAssertEqual(run.status, 1, line: line)
            for text in mentions { XCTAssertTrue(run.err.contains(text), "stderr lacks '\(text)': \(run.err)", line: line) }
        }
        try expectFailure(try rewrite { $0.removeAll { $0.0 == "audio.gru.weight_hh_l1_reverse" } }, inputs: inputs,
                          mentions: ["missing (1): audio.gru.weight_hh_l1_reverse"])
        try expectFailure(try rewrite { $0.append(("fusion.v2a.in_proj_weight", [1], [0], nil)) }, inputs: inputs,
                          mentions: ["unexpected (1): fusion.v2a.in_proj_weight"])
        try expectFailure(try rewrite { items in
            let i = items.firstIndex { $0.0 == "classifier.6.weight" }!
            items[i] = ("classifier.6.weight", [6, 128], [Float](repeating: 0, count: 768), nil)
        }, inputs: inputs, mentions: ["classifier.6.weight: shape [6, 128] in the file, the model has [7, 128]"])
        try expectFailure(try rewrite { items in
            let i = items.firstIndex { $0.0 == "visual.backbone.bn1.num_batches_tracked" }!
            items[i] = ("visual.backbone.bn1.num_batches_tracked", [], [0], nil)
        }, inputs: inputs, mentions: ["visual.backbone.bn1.num_batches_tracked: dtype F32 in the file, expected I64"])

        // Inputs of the wrong shape, or missing, or a truncated weights file.
        var writer = SafetensorsWriter()
        writer.add("frames", shape: [1, 2, 3, 64, 64], floats: [Float](repeating: 0, count: 2 * 3 * 64 * 64))
        writer.add("mel", shape: [1, 1, 40, 64], floats: [Float](repeating: 0, count: 40 * 64))
        try writer.write(to: folder.file("bad-inputs.safetensors"))
        try expectFailure(weights, inputs: folder.file("bad-inputs.safetensors"), mentions: ["mel has shape [1, 1, 40, 64]"])
        var framesOnly = SafetensorsWriter()
        framesOnly.add("frames", shape: [1, 2, 3, 64, 64], floats: [Float](repeating: 0, count: 2 * 3 * 64 * 64))
        try framesOnly.write(to: folder.file("frames-only.safetensors"))
        try expectFailure(weights, inputs: folder.file("frames-only.safetensors"), mentions: ["no tensor 'mel'"])
        let truncated = folder.file("truncated.safetensors")
        try Data(try Data(contentsOf: URL(fileURLWithPath: weights)).prefix(4)).write(to: URL(fileURLWithPath: truncated))
        try expectFailure(truncated, inputs: inputs, mentions: ["truncated.safetensors", "too short"])
    }

    func testModelInputErrors() throws {
        let model = EmotionModel(fusion: .crossAttention, classes: referenceClasses.count, dropout: 0)
        XCTAssertThrowsError(try model.forward(frames: Tensor(zeros: [2, 3, 224, 224]), mel: Tensor(zeros: [2, 1, 64, 64]))) {
            XCTAssertTrue("\($0)".contains("frames has shape [2, 3, 224, 224]"), "\($0)")
        }
        XCTAssertThrowsError(try model.forward(frames: Tensor(zeros: [2, 1, 3, 32, 32]), mel: Tensor(zeros: [3, 1, 64, 16]))) {
            XCTAssertTrue("\($0)".contains("frames has batch 2 but mel has batch 3"), "\($0)")
        }
        XCTAssertThrowsError(try model.forward(frames: nil, mel: Tensor(zeros: [2, 1, 64, 16]))) {
            XCTAssertTrue("\($0)".contains("needs frames"), "\($0)")
        }
    }
}
