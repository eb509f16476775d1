import NN
import Safetensors
import Tensor
import TestSupport
import XCTest

/// The layers' and the optimiser's cases of `../shared/reference/ops/` (PyTorch 2.13): outputs at the forward
/// tolerance (1e-4), gradients and Adam states at the grad tolerance (1e-3 relative L2).
final class LayerFixtureTests: XCTestCase {
    func testLinearAndLayerNorm() throws {
        let layer = Linear(16, 8)
        try OpsFixtureCase("linear").checkOneInput(module: layer) { layer($0) }
        let norm = LayerNorm(32)
        try OpsFixtureCase("layernorm").checkOneInput(module: norm) { norm($0) }
    }

    func testGRU() throws {
        let c = try OpsFixtureCase("gru")
        let gru = GRU(inputSize: 16, hiddenSize: 8, layers: 2, bidirectional: true)
        try c.load(gru)
        let input = try c.tensor("input", grad: true)
        let (output, hidden) = gru(input)
        try c.checkForward("output", output)
        try c.checkForward("h_n", hidden)
        try c.backward(output, module: gru)
        try c.checkGrad("grad_input", input.grad)
    }

    func testMultiheadAttention() throws {
        let c = try OpsFixtureCase("multihead_attention")
        let attention = MultiheadAttention(embedDim: 32, heads: 8, generator: RandomGenerator(seed: 0))
        try c.load(attention)
        let query = try c.tensor("query", grad: true), key = try c.tensor("key", grad: true)
        let output = attention(query: query, key: key, value: key)
        try c.checkForward("output", output)
        try c.backward(output, module: attention)
        try c.checkGrad("grad_query", query.grad)
        try c.checkGrad("grad_key", key.grad)
    }

    func testTransformerEncoderLayer() throws {
        let layer = TransformerEncoderLayer(dModel: 32, heads: 8, feedForward: 64, dropout: 0, generator: RandomGenerator(seed: 0))
        try OpsFixtureCase("transformer_encoder_layer").checkOneInput(module: layer) { layer($0) }
    }

    func testAdam() throws {
        for (name, steps, decay) in [("adam_1step", 1, 0.0), ("adam_3steps_wd", 3, 1e-4)] {
            let c = try OpsFixtureCase(name)
            let layer = Linear(5, 3)
            try c.load(layer)
            let flat = FlatParameters(layer)
            let adam = Adam(flat, groups: [.init(name: "all", prefixes: [], learningRate: 1e-3)], weightDecay: decay)
            let input = try c.tensor("input"), target = try c.tensor("target")
            for step in 1...steps {
                let before = [layer.weight.copy(), layer.bias!.copy()]
                flat.zeroGrad()
                let difference = layer(input) - target
                let loss = (difference * difference).sum() * 0.5
                try c.checkForward("loss.\(step)", loss)
                loss.backward()
                try c.checkGrad("grad_weight.\(step)", layer.weight.grad)
                try c.checkGrad("grad_bias.\(step)", layer.bias!.grad)
                adam.step()
                for (key, tensor, old) in [("weight", layer.weight, before[0]), ("bias", layer.bias!, before[1])] {
                    try c.checkForward("\(key).\(step)", tensor)
                    // The update itself, after - before, at the grad tolerance.
                    let reference = zip(try c.file.floats("\(key).\(step)"), step == 1 ? try c.file.floats(key) : try c.file.floats("\(key).\(step - 1)")).map { $0 - $1 }
                    let update = zip(tensor.scalars, old.scalars).map { $0 - $1 }
                    XCTAssertLessThanOrEqual(Tolerance.relativeL2(update, reference), 1e-3, "\(name) \(key) update at step \(step)")
                }
                let offset = flat.offsets
                let m = Array(UnsafeBufferPointer(start: adam.exponentialAverage.pointer, count: flat.count))
                let v = Array(UnsafeBufferPointer(start: adam.exponentialAverageSquares.pointer, count: flat.count))
                try c.checkGrad("exp_avg_weight.\(step)", Tensor(Array(m[offset[0]..<offset[1]]), shape: [3, 5]))
                try c.checkGrad("exp_avg_sq_weight.\(step)", Tensor(Array(v[offset[0]..<offset[1]]), shape: [3, 5]))
                try c.checkGrad("exp_avg_bias.\(step)", Tensor(Array(m[offset[1]...]), shape: [3]))
                try c.checkGrad("exp_avg_sq_bias.\(step)", Tensor(Array(v[offset[1]...]), shape: [3]))
            }
        }
    }

    func testLearningRateSchedule() throws {
        let c = try OpsFixtureCase("lr_schedule")
        let schedule = WarmupCosine(warmup: 5, total: 20, floor: 0.01)
        let steps = try c.file.int64s("step").map { Int($0) }
        let factors = steps.map { Float(schedule.factor(step: $0)) }
        XCTAssertLessThanOrEqual(Tolerance.forward(factors, try c.file.floats("factor")), 1e-6)
        XCTAssertLessThanOrEqual(Tolerance.forward(factors.map { $0 * 1e-3 }, try c.file.floats("lr")), 1e-6)
        XCTAssertEqual(schedule.factor(step: 20), 0.01, accuracy: 1e-12)
    }
}
