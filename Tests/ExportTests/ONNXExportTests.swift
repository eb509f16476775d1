import EmotionModel
@testable import Export
import Foundation
import ModelContract
import NN
import OneDNN
import Tensor
import TestSupport
import XCTest

/// The exported graphs run in onnxruntime with the engine's logits, pass `onnx.checker`, and the int8 graph computes
/// what the engine computes with the int8 weights; `emotion_model.py` loads `model.safetensors` into PyTorch with the
/// engine's logits. Each check skips with a message where its Python package is not importable.
final class ONNXExportTests: XCTestCase {
    static let shapes = ExportShapes(frames: 2, size: 40, melFrames: 48)

    /// Runs `model.onnx` (and optionally PyTorch) on the inputs and prints the largest difference from the engine's logits.
    static let oracle = """
        import json, sys
        import numpy as np
        folder, fusion, batch, tv, size, ta, which = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:7]), sys.argv[7]
        feeds = {}
        if fusion != "audio": feeds["frames"] = np.fromfile(folder + "/frames.f32", np.float32).reshape(batch, tv, 3, size, size)
        if fusion != "visual": feeds["mel"] = np.fromfile(folder + "/mel.f32", np.float32).reshape(batch, 1, 64, ta)
        expected = np.fromfile(folder + "/logits.f32", np.float32).reshape(batch, 7)
        if which == "torch":
            import torch
            sys.path.insert(0, sys.argv[8])
            import emotion_model
            model = emotion_model.load(folder + "/model.safetensors", fusion)
            with torch.no_grad():
                got = model(*[torch.from_numpy(feeds[k]) if k in feeds else None for k in ("frames", "mel")]).numpy()
        else:
            import onnx, onnxruntime
            onnx.checker.check_model(onnx.load(folder + "/" + which), full_check=True)
            options = onnxruntime.SessionOptions()
            if len(sys.argv) > 9:  # the graph as written, without the runtime's fusions (which may quantize activations too)
                options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
            session = onnxruntime.InferenceSession(folder + "/" + which, options, providers=["CPUExecutionProvider"])
            assert [i.name for i in session.get_inputs()] == list(feeds), [i.name for i in session.get_inputs()]
            got = session.run(["logits"], feeds)[0]
        print(json.dumps({"max_abs": float(np.abs(got - expected).max()), "scale": float(np.abs(expected).max())}))
        """

    func testEveryFusionRunsInOnnxruntimeAndPyTorchWithTheEnginesLogits() throws {
        for fusion in Fusion.allCases {
            let folder = try TemporaryFolder()
            let model = EmotionModel(fusion: fusion, classes: referenceClasses.count, dropout: 0)
            model.initializeParameters(seed: 7)
            Self.randomizeStatistics(model)
            model.eval()
            let batch = 3, shapes = Self.shapes
            let frames = (0..<(batch * shapes.frames * 3 * shapes.size * shapes.size)).map { Float(sin(Double($0) * 0.37)) }
            let mel = (0..<(batch * 64 * shapes.melFrames)).map { Float(cos(Double($0) * 0.11)) * 20 - 30 }
            try write(frames, folder.file("frames.f32"))
            try write(mel, folder.file("mel.f32"))
            let state = StateDictionary(model)
            try ONNXExport.model(state, fusion: fusion, classes: referenceClasses, shapes: shapes, version: "test").write(to: URL(fileURLWithPath: folder.file("model.onnx")))
            try ONNXExport.model(state, fusion: fusion, classes: referenceClasses, shapes: shapes, quantization: .weights, version: "test")
                .write(to: URL(fileURLWithPath: folder.file("model_int8.onnx")))
            try model.saveStateDictionary(to: folder.file("model.safetensors"), metadata: ["fusion": fusion.rawValue])
            func logits() throws -> [Float] {
                try withoutGrad { try model.logits(count: batch, frames: frames, tv: shapes.frames, size: shapes.size, mel: mel, bands: 64,
                                                   melFrames: shapes.melFrames) }.scalars
            }
            try write(try logits(), folder.file("logits.f32"))
            try check(folder, fusion, "model.onnx", tolerance: 1e-4)
            try check(folder, fusion, "torch", tolerance: 1e-4)

            model.quantize(trunk: nil)
            try write(try logits(), folder.file("logits.f32"))
            // The graph computes exactly the engine's int8 weights; onnxruntime's own int8 fusions may also quantize activations,
            // which moves the logits by a little more.
            try check(folder, fusion, "model_int8.onnx", tolerance: 1e-4, unoptimized: true)
            try check(folder, fusion, "model_int8.onnx", tolerance: 1e-2)
            let sizes = try ["model.onnx", "model_int8.onnx"].map { try FileManager.default.attributesOfItem(atPath: folder.file($0))[.size] as! Int }
            XCTAssertLessThan(Double(sizes[1]), Double(sizes[0]) * 0.35, "\(fusion): the int8 file holds int8 weights")
        }
    }

    /// What onnxruntime makes of the calibrated int8 graph after its optimisations: each operator's count, saved by the
    /// runtime itself, so the integer kernels are seen rather than inferred from the speed.
    static let optimizedOperators = """
        import collections, json, sys, onnx, onnxruntime
        options = onnxruntime.SessionOptions()
        options.optimized_model_filepath = sys.argv[2]
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        onnxruntime.InferenceSession(sys.argv[1], options, providers=["CPUExecutionProvider"])
        print(json.dumps(collections.Counter(n.op_type for n in onnx.load(sys.argv[2]).graph.node)))
        """

    /// The calibrated int8 model: onnxruntime runs every trunk convolution and residual sum on integer kernels, its
    /// logits match the engine's int8 trunk more closely than either matches the float model (the engine computes the
    /// file's integer steps, not just something as accurate), both stay near the float model's, and calibration gives
    /// the same bytes from the same clips.
    func testCalibratedInt8RunsOnIntegerKernelsWithTheEnginesLogits() throws {
        for fusion in [Fusion.visual, .crossAttention] {
            let folder = try TemporaryFolder()
            let model = EmotionModel(fusion: fusion, classes: referenceClasses.count, dropout: 0)
            model.initializeParameters(seed: 11)
            Self.randomizeStatistics(model)
            model.eval()
            model.prepareForInference()
            let batch = 3, shapes = Self.shapes
            func inputs(_ phase: Double) -> [Float] { (0..<(batch * shapes.frames * 3 * shapes.size * shapes.size)).map { Float(sin(Double($0) * 0.37 + phase)) * 1.8 } }
            let frames = inputs(0)
            let mel = (0..<(batch * 64 * shapes.melFrames)).map { Float(cos(Double($0) * 0.11)) * 20 - 30 }
            func calibrate() -> TrunkCalibration {
                let observer = ActivationObserver(method: .percentile)
                for phase in [0.5, 1.0, 1.5] {
                    withoutGrad { model.observeTrunk(frames: Tensor(inputs(phase), shape: [batch, shapes.frames, 3, shapes.size, shapes.size]), observer) }
                }
                return observer.calibration(source: "three test batches", clips: 3 * batch)
            }
            let calibration = calibrate()
            XCTAssertEqual(try calibration.encoded(), try calibrate().encoded(), "the same clips give the same scales")
            XCTAssertEqual(calibration.images, 3 * batch * shapes.frames)
            XCTAssertEqual(calibration[.stem].zeroPoint, 0, "a ReLU's output starts at code 0")
            XCTAssertGreaterThan(calibration[.input].zeroPoint, 0, "the normalised image is signed")
            let state = StateDictionary(model)
            func written() throws -> Data {
                try ONNXExport.model(state, fusion: fusion, classes: referenceClasses, shapes: shapes,
                                     quantization: .calibrated(FoldedTrunk(model.visual!.backbone), calibration), version: "test")
            }
            try written().write(to: URL(fileURLWithPath: folder.file("model_int8.onnx")))
            XCTAssertEqual(try written(), try Data(contentsOf: URL(fileURLWithPath: folder.file("model_int8.onnx"))), "the same bytes twice")
            try write(frames, folder.file("frames.f32"))
            try write(mel, folder.file("mel.f32"))
            func logits() throws -> [Float] {
                try withoutGrad { try model.logits(count: batch, frames: frames, tv: shapes.frames, size: shapes.size, mel: mel, bands: 64,
                                                   melFrames: shapes.melFrames) }.scalars
            }
            let float = try logits()
            model.quantize(trunk: calibration)
            let int8 = try logits()
            let scale = float.map(abs).max()!
            let drift = zip(float, int8).map { abs($0 - $1) }.max()!
            XCTAssertGreaterThan(drift, 0, "\(fusion): the int8 trunk ran")
            XCTAssertLessThan(drift, 0.1 * scale, "\(fusion): int8 logits \(int8.prefix(4)) stray from the float ones \(float.prefix(4))")
            try write(int8, folder.file("logits.f32"))
            // Without VNNI, oneDNN halves the trunk's int8 weights (`DNNL.hasVNNI`), so the engine's int8 is the file's
            // integer steps only to within that rounding: 1.9 % (visual) and 3.6 % (cross_attention) of the largest logit
            // on an AVX2 EPYC, against 1 % with VNNI.
            let runtime = try check(folder, fusion, "model_int8.onnx", tolerance: Double((DNNL.hasVNNI ? 0.01 : 0.05) * scale))
            if let runtime { XCTAssertLessThan(runtime, Double(drift), "\(fusion): onnxruntime's int8 is closer to float than to the engine's int8") }
            print(String(format: "%@: largest logit %.3f; int8 against float %.4f; onnxruntime int8 against the engine's int8 %@", fusion.rawValue, scale, drift,
                         runtime.map { String(format: "%.4f", $0) } ?? "not run"))

            let result = try shell("/usr/bin/env", ["python3", "-c", Self.optimizedOperators, folder.file("model_int8.onnx"), folder.file("optimized.onnx")])
            if result.err.contains("No module named") { print("onnx or onnxruntime is not importable: the optimised int8 graph is not inspected"); continue }
            let operators = try XCTUnwrap(try? JSONSerialization.jsonObject(with: result.out) as? [String: Int], result.err)
            XCTAssertEqual(operators["QLinearConv"], 20, "\(fusion): every trunk convolution on integer kernels: \(operators)")
            XCTAssertEqual(operators["QLinearAdd"], 8, "\(fusion): every residual sum in integers: \(operators)")
        }
    }

    func testQuantizationIsSymmetricPerChannel() {
        let q = Int8Quantization([0.5, -1, 0.25, 0, 0, 0, 3, 1.5, -3], channels: 3)
        XCTAssertEqual(q.scales, [1 / 127, 1, 3 / 127])
        XCTAssertEqual(q.codes, [64, -127, 32, 0, 0, 0, 127, 64, -127])
        XCTAssertEqual(q.dequantized[1], -1)
        XCTAssertEqual(q.dequantized[3], 0, "zero stays zero")
    }

    private static func randomizeStatistics(_ model: EmotionModel) {
        var state: UInt64 = 99
        func next() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(state >> 40) / Float(1 << 24)
        }
        for (name, entry) in model.namedState() {
            guard case .tensor(let tensor) = entry else { continue }
            if name.hasSuffix("running_var") { for i in 0..<tensor.count { tensor.pointer[i] = 0.5 + next() } }
            if name.hasSuffix("running_mean") { for i in 0..<tensor.count { tensor.pointer[i] = next() * 0.2 - 0.1 } }
        }
    }

    private func write(_ values: [Float], _ path: String) throws {
        try values.withUnsafeBytes { Data($0) }.write(to: URL(fileURLWithPath: path))
    }

    @discardableResult
    private func check(_ folder: TemporaryFolder, _ fusion: Fusion, _ which: String, tolerance: Double, unoptimized: Bool = false) throws -> Double? {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources/Export/Resources").path
        let s = Self.shapes
        let result = try shell("/usr/bin/env", ["python3", "-c", Self.oracle, folder.path, fusion.rawValue, "3", "\(s.frames)", "\(s.size)", "\(s.melFrames)",
                                                which, script] + (unoptimized ? ["unoptimized"] : []))
        if result.err.contains("No module named") {
            print("\(which == "torch" ? "torch or safetensors" : "onnx or onnxruntime") is not importable: \(which) of \(fusion.rawValue) is not checked here")
            return nil
        }
        guard result.status == 0, let figures = try? JSONSerialization.jsonObject(with: result.out) as? [String: Double] else {
            XCTFail("\(fusion.rawValue) \(which): \(result.err)")
            return nil
        }
        XCTAssertLessThan(figures["max_abs"]!, tolerance, "\(fusion.rawValue) \(which): logits differ from the engine's (largest logit \(figures["scale"]!))")
        XCTAssertGreaterThan(figures["scale"]!, 1e-3, "the logits are not all zero, so the comparison means something")
        return figures["max_abs"]
    }
}
