import NN
import Safetensors
import Tensor
import TestSupport
import XCTest

/// The tensor operations' cases of `../shared/reference/ops/` (PyTorch 2.13): outputs at the forward
/// tolerance (1e-4), gradients at the grad tolerance (1e-3 relative L2). The layers' cases are NNTests'.
final class OpsFixtureTests: XCTestCase {
    func testConvolutions() throws {
        for (name, stride, padding) in [("conv2d_k7_s2_p3", 2, 3), ("conv2d_k3_s1_p1", 1, 1),
                                        ("conv2d_k1_s2_p0_nobias", 2, 0), ("conv2d_k3_s2_p1_bias", 2, 1)] {
            let c = try OpsFixtureCase(name)
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
            let c = try OpsFixtureCase(training ? "batchnorm2d_train" : "batchnorm2d_eval")
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
        for (name, op) in cases { try OpsFixtureCase(name).checkOneInput(op) }
    }

    func testCrossEntropy() throws {
        for name in ["cross_entropy_ls", "cross_entropy_ls_weighted"] {
            let c = try OpsFixtureCase(name)
            let logits = try c.tensor("input", grad: true)
            let targets = try c.file.int64s("target").map { Int($0) }
            let weights = c.file.entries["class_weight"] != nil ? try c.file.floats("class_weight") : nil
            let loss = crossEntropy(logits, targets: targets, classWeights: weights, labelSmoothing: 0.1)
            try c.checkForward("output", loss)
            loss.backward()
            try c.checkGrad("grad_input", logits.grad)
        }
    }

}
