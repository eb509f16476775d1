import EmotionModel
import NN
import Safetensors
import Tensor
import TestSupport
import XCTest

/// The whole `EmotionModel` against `../shared/reference/model/` (PyTorch 2.13, hashinit weights, dropout 0):
/// eval and train forwards, the loss, every gradient, and three Adam steps, for all five fusions, at the
/// tolerance classes of the reference README.
final class ModelFixtureTests: XCTestCase {
    func testCrossAttention() throws { try check(.crossAttention) }
    func testTransformer() throws { try check(.transformer) }
    func testConcat() throws { try check(.concat) }
    func testVisual() throws { try check(.visual) }
    func testAudio() throws { try check(.audio) }

    private func check(_ fusion: Fusion) throws {
        let file = try SafetensorsFile(path: try Shared.path("reference/model/\(fusion.rawValue).safetensors"))
        let model = EmotionModel(fusion: fusion, classes: referenceClasses.count, dropout: 0)
        model.hashInitialize()
        let state = Dictionary(uniqueKeysWithValues: model.namedState())

        // The state dictionary: the same names, order and shapes as PyTorch's.
        let names = try JSONDecoder().decode([String].self, from: Data(file.metadata["state_dict_names"]!.utf8))
        XCTAssertEqual(model.namedState().map(\.0), names, "state_dict order")
        var counters: [String] = []
        for name in names {
            guard case .tensor(let t) = state[name]! else {
                counters.append(name)
                continue
            }
            XCTAssertEqual(t.shape, try file.int64s("shape.\(name)").map { Int($0) }, name)
        }
        XCTAssertEqual(counters, names.filter { $0.hasSuffix(".num_batches_tracked") }, "only BatchNorm's counters have no float shape to check")

        let frames = fusion.usesVisual ? HashInit.input(name: "input.frames", shape: [2, 2, 3, 224, 224], scale: 2) : nil
        let mel = fusion.usesAudio ? HashInit.input(name: "input.mel", shape: [2, 1, 64, 64], scale: 2) : nil
        for (key, input) in [("input.frames", frames), ("input.mel", mel)] {
            guard let input else { continue }
            XCTAssertEqual(Array(input.scalars.prefix(8)), try file.floats("\(key).head"), "\(key) head")
            XCTAssertEqual(input.scalars.reduce(0.0) { $0 + Double($1) }, Double(try file.floats("\(key).sum")[0]), accuracy: 1e-2)
        }
        let labels = try file.int64s("labels").map { Int($0) }

        // Evaluation mode: running statistics, no graph.
        model.eval()
        let evaluated = try withoutGrad { try model.forward(frames: frames, mel: mel) }
        XCTAssertFalse(evaluated.logits.requiresGrad)
        try compareStages(evaluated, file, prefix: "eval.", tolerance: 1e-4)

        // Training mode: batch statistics, the loss, every gradient.
        model.train()
        let flat = FlatParameters(model)
        let adam = Adam(flat, groups: Adam.modelGroups(), weightDecay: 1e-4)
        let schedule = WarmupCosine(warmup: 1, total: 3)
        var losses: [Float] = []
        for step in 1...3 {
            flat.zeroGrad()
            let output = try model.forward(frames: frames, mel: mel)
            let loss = crossEntropy(output.logits, targets: labels, labelSmoothing: 0.1)
            losses.append(loss.item)
            if step == 1 {
                try compareStages(output, file, prefix: "train.", tolerance: 1e-4)
                try compare(loss, file, "train.loss", tolerance: 1e-4)
                try compareBuffers(state, file, prefix: "after_forward.", tolerance: 1e-4)
            }
            loss.backward()
            if step == 1 { try compareGradients(model, file) }
            adam.step(learningRateFactor: schedule.factor(step: step))
        }
        let referenceLosses = try file.floats("steps.loss")
        XCTAssertLessThanOrEqual(Tolerance.forward([losses[0]], [referenceLosses[0]]), 1e-4, "steps.loss[0]")
        XCTAssertLessThanOrEqual(Tolerance.forward(Array(losses[1...]), Array(referenceLosses[1...])), 3e-3, "steps.loss[1:]")
        for (group, base) in [("visual", 1e-4), ("audio", 5e-4), ("other", 1e-3)] where file.entries["steps.lr.\(group)"] != nil {
            let rates = (1...3).map { Float(base * schedule.factor(step: $0)) }
            XCTAssertLessThanOrEqual(Tolerance.forward(rates, try file.floats("steps.lr.\(group)")), 1e-9)
        }
        try compareDeltas(model, file)
        try compareBuffers(state, file, prefix: "step3.", tolerance: 3e-3)
        model.eval()
        let after = try withoutGrad { try model.forward(frames: frames, mel: mel) }
        try compare(after.logits, file, "step3.eval_logits", tolerance: 3e-3)
    }

    private func compare(_ value: Tensor, _ file: SafetensorsFile, _ key: String, tolerance: Double,
                         line: UInt = #line) throws {
        XCTAssertEqual(value.shape, try file.entry(key).shape, "\(key) shape", line: line)
        let error = Tolerance.forward(value.scalars, try file.floats(key))
        XCTAssertLessThanOrEqual(error, tolerance, "\(key): error \(error)", line: line)
    }

    private func compareStages(_ output: EmotionModel.Output, _ file: SafetensorsFile, prefix: String, tolerance: Double) throws {
        let stages: [(String, Tensor?)] = [("logits", output.logits), ("backbone_out", output.backbone), ("visual_seq", output.visualSequence),
                                           ("audio_conv_out", output.audioConv), ("audio_seq", output.audioSequence), ("fused", output.fused)]
        for (name, tensor) in stages {
            let key = prefix + name
            guard file.entries[key] != nil else { XCTAssertNil(tensor, "\(key) absent from the fixture"); continue }
            try compare(XCTUnwrap(tensor, key), file, key, tolerance: tolerance)
        }
    }

    /// BatchNorm running statistics and counters stored under `prefix`.
    private func compareBuffers(_ state: [String: StateEntry], _ file: SafetensorsFile, prefix: String, tolerance: Double) throws {
        let keys = file.names.filter { $0.hasPrefix(prefix) && $0 != "step3.eval_logits" }
        XCTAssertFalse(keys.isEmpty, "no \(prefix) buffers")
        for key in keys {
            let name = String(key.dropFirst(prefix.count))
            switch state[name] {
            case .tensor(let t)?: try compare(t, file, key, tolerance: tolerance)
            case .counter(let c)?: XCTAssertEqual(c.value, try file.int64s(key)[0], key)
            case nil: XCTFail("\(key): the model has no \(name)")
            }
        }
    }

    private func compareGradients(_ model: EmotionModel, _ file: SafetensorsFile) throws {
        for (name, parameter) in model.namedParameters() {
            let gradient = try XCTUnwrap(parameter.grad, name).scalars
            let backbone = name.hasPrefix("visual.backbone.")
            if ["audio.conv.0.bias", "audio.conv.4.bias", "audio.conv.8.bias"].contains(name) {
                // grad_zero: a conv bias feeding train-mode BatchNorm has gradient 0.
                XCTAssertLessThanOrEqual(gradient.map { abs(Double($0)) }.max()!, 1e-5, "grad.\(name)")
                continue
            }
            try compareSummarised(gradient, shape: parameter.shape, file, "grad.\(name)", pickKey: "pick.\(name)",
                                  tolerance: backbone ? 0.03 : 1e-3, normOnly: false)
        }
    }

    private func compareDeltas(_ model: EmotionModel, _ file: SafetensorsFile) throws {
        for (name, parameter) in model.namedParameters() {
            let initial = HashInit.values(name: name, shape: parameter.shape)
            let delta = zip(parameter.scalars, initial).map { $0 - $1 }
            let backbone = name.hasPrefix("visual.backbone.")
            try compareSummarised(delta, shape: parameter.shape, file, "delta3.\(name)", pickKey: "pick.\(name)",
                                  tolerance: 0.05, normOnly: backbone)
        }
    }

    /// A tensor stored in full (relative L2) or as summaries (norm, sum, picks, row and column sums).
    private func compareSummarised(_ x: [Float], shape: [Int], _ file: SafetensorsFile, _ key: String, pickKey: String,
                                   tolerance: Double, normOnly: Bool) throws {
        if file.entries[key] != nil {
            let reference = try file.floats(key)
            if normOnly {
                let error = abs(Tolerance.norm(x) - Tolerance.norm(reference)) / Tolerance.norm(reference)
                XCTAssertLessThanOrEqual(error, tolerance, "\(key) norm: error \(error)")
            } else {
                let error = Tolerance.relativeL2(x, reference)
                XCTAssertLessThanOrEqual(error, tolerance, "\(key): relative L2 error \(error)")
            }
            return
        }
        let norm = Double(try file.floats("\(key).norm")[0])
        let ours = Tolerance.norm(x)
        XCTAssertLessThanOrEqual(abs(ours - norm) / norm, tolerance, "\(key).norm: \(ours) vs \(norm)")
        if normOnly { return }
        let picks = try file.int64s(pickKey).map { Int($0) }
        for (index, reference) in zip(picks, try file.floats("\(key).pick")) {
            XCTAssertLessThanOrEqual(abs(Double(x[index]) - Double(reference)), tolerance * norm, "\(key).pick[\(index)]")
        }
        XCTAssertLessThanOrEqual(abs(x.reduce(0.0) { $0 + Double($1) } - Double(try file.floats("\(key).sum")[0])),
                                 tolerance * norm * Double(x.count).squareRoot(), "\(key).sum")
        let rows = shape[0], columns = x.count / rows
        let rowSums = try file.floats("\(key).rowsum"), columnSums = try file.floats("\(key).colsum")
        for r in 0..<rows {
            let s = (0..<columns).reduce(0.0) { $0 + Double(x[r * columns + $1]) }
            XCTAssertLessThanOrEqual(abs(s - Double(rowSums[r])), tolerance * norm * Double(columns).squareRoot(), "\(key).rowsum[\(r)]")
        }
        for c in 0..<columns {
            let s = (0..<rows).reduce(0.0) { $0 + Double(x[$1 * columns + c]) }
            XCTAssertLessThanOrEqual(abs(s - Double(columnSums[c])), tolerance * norm * Double(rows).squareRoot(), "\(key).colsum[\(c)]")
        }
    }
}
