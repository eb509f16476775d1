import NN
import Safetensors
import Tensor
import TestSupport
import XCTest

/// Every case of `../shared/reference/ops/` (PyTorch 2.13): outputs at the forward tolerance (1e-4), gradients
/// and Adam states at the grad tolerance (1e-3 relative L2).
final class OpsFixtureTests: XCTestCase {
    struct Case {
        let file: SafetensorsFile
        let name: String

        init(_ name: String) throws {
            self.name = name
            file = try SafetensorsFile(path: try Shared.path("reference/ops/\(name).safetensors"))
        }

        func tensor(_ key: String, grad: Bool = false) throws -> Tensor {
            let t = Tensor(try file.floats(key), shape: try file.entry(key).shape)
            t.requiresGrad = grad
            return t
        }

        func checkForward(_ key: String, _ value: Tensor, file: StaticString = #filePath, line: UInt = #line) throws {
            XCTAssertEqual(value.shape, try self.file.entry(key).shape, "\(name) \(key) shape", file: file, line: line)
            let error = Tolerance.forward(value.scalars, try self.file.floats(key))
            XCTAssertLessThanOrEqual(error, 1e-4, "\(name) \(key): forward error \(error)", file: file, line: line)
        }

        func checkGrad(_ key: String, _ value: Tensor?, file: StaticString = #filePath, line: UInt = #line) throws {
            guard let value else { return XCTFail("\(name) \(key): no gradient", file: file, line: line) }
            let error = Tolerance.relativeL2(value.scalars, try self.file.floats(key))
            XCTAssertLessThanOrEqual(error, 1e-3, "\(name) \(key): relative L2 error \(error)", file: file, line: line)
        }

        /// Sets a module's parameters from the case (they carry their PyTorch names without prefix).
        func load(_ module: Module) throws {
            for (key, parameter) in module.namedParameters() {
                try file.copyFloats(key, into: parameter.buffer)
                parameter.grad = nil
            }
        }

        /// The whole check of a one-input op: output, then the input's and every parameter's gradient.
        func checkOneInput(module: Module? = nil, _ op: (Tensor) -> Tensor) throws {
            if let module { try load(module) }
            let input = try tensor("input", grad: true)
            let output = op(input)
            try checkForward("output", output)
            try backward(output, module: module)
            try checkGrad("grad_input", input.grad)
        }

        /// Runs backward from `sum(output * grad_out)` and checks every parameter's gradient.
        func backward(_ output: Tensor, module: Module?) throws {
            output.backward(try tensor("grad_out"))
            for (key, parameter) in module?.namedParameters() ?? [] { try checkGrad("grad_\(key)", parameter.grad) }
        }
    }

    func testConvolutions() throws {
        for (name, stride, padding) in [("conv2d_k7_s2_p3", 2, 3), ("conv2d_k3_s1_p1", 1, 1),
                                        ("conv2d_k1_s2_p0_nobias", 2, 0), ("conv2d_k3_s2_p1_bias", 2, 1)] {
            let c = try Case(name)
            let input = try c.tensor("input", grad: true), weight = try c.tensor("weight", grad: true)
            let bias = c.file.entries["bias"] != nil ? try c.tensor("bias", grad: true) : nil
            let output = conv2d(input, weight: weight, bias: bias, stride: stride, padding: padding)
            try c.checkForward("output", output)
            output.backward(try c.tensor("grad_out"))
            try c.checkGrad("grad_input", input.grad)
            try c.checkGrad("grad_weight", weight.grad)
            if let bias { try c.checkGrad("grad_bias", bias.grad) }
        }
    }

    func testBatchNorm() throws {
        for training in [true, false] {
            let c = try Case(training ? "batchnorm2d_train" : "batchnorm2d_eval")
            let bn = BatchNorm2d(8)
            try c.load(bn)
            try c.file.copyFloats("running_mean", into: bn.runningMean.buffer)
            try c.file.copyFloats("running_var", into: bn.runningVar.buffer)
            bn.train(training)
            let input = try c.tensor("input", grad: true)
            let output = bn(input)
            try c.checkForward("output", output)
            if training {
                try c.checkForward("running_mean_after", bn.runningMean)
                try c.checkForward("running_var_after", bn.runningVar)
                XCTAssertEqual(bn.batchesTracked.value, 1)
            }
            try c.backward(output, module: bn)
            try c.checkGrad("grad_input", input.grad)
        }
    }

    func testPoolingAndActivations() throws {
        let cases: [(String, (Tensor) -> Tensor)] = [
            ("relu", { relu($0) }),
            ("maxpool2d_k3_s2_p1", { maxPool2d($0, kernel: 3, stride: 2, padding: 1) }),
            ("maxpool2d_k2_s2", { maxPool2d($0, kernel: 2, stride: 2) }),
            ("global_avgpool", { globalAveragePool($0) }),
            ("softmax", { softmax($0) }),
        ]
        for (name, op) in cases { try Case(name).checkOneInput(op) }
    }

    func testLinearAndLayerNorm() throws {
        let layer = Linear(16, 8)
        try Case("linear").checkOneInput(module: layer) { layer($0) }
        let norm = LayerNorm(32)
        try Case("layernorm").checkOneInput(module: norm) { norm($0) }
    }

    func testGRU() throws {
        let c = try Case("gru")
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
        let c = try Case("multihead_attention")
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
        try Case("transformer_encoder_layer").checkOneInput(module: layer) { layer($0) }
    }

    func testCrossEntropy() throws {
        for name in ["cross_entropy_ls", "cross_entropy_ls_weighted"] {
            let c = try Case(name)
            let logits = try c.tensor("input", grad: true)
            let targets = try c.file.int64s("target").map { Int($0) }
            let weights = c.file.entries["class_weight"] != nil ? try c.file.floats("class_weight") : nil
            let loss = crossEntropy(logits, targets: targets, classWeights: weights, labelSmoothing: 0.1)
            try c.checkForward("output", loss)
            loss.backward()
            try c.checkGrad("grad_input", logits.grad)
        }
    }

    func testAdam() throws {
        for (name, steps, decay) in [("adam_1step", 1, 0.0), ("adam_3steps_wd", 3, 1e-4)] {
            let c = try Case(name)
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
        let c = try Case("lr_schedule")
        let schedule = WarmupCosine(warmup: 5, total: 20, floor: 0.01)
        let steps = try c.file.int64s("step").map { Int($0) }
        let factors = steps.map { Float(schedule.factor(step: $0)) }
        XCTAssertLessThanOrEqual(Tolerance.forward(factors, try c.file.floats("factor")), 1e-6)
        XCTAssertLessThanOrEqual(Tolerance.forward(factors.map { $0 * 1e-3 }, try c.file.floats("lr")), 1e-6)
        XCTAssertEqual(schedule.factor(step: 20), 0.01, accuracy: 1e-12)
    }
}
