import NN
import OneDNN
@testable import Tensor
import XCTest

/// Training keeps activations in oneDNN's blocked layout between convolution, batch normalization, max pooling and
/// `addReLU` (`conv2d(keepLayout:)`). The same chain run in row-major NCHW, on the ops PyTorch's fixtures pin
/// (OpsFixtureTests), is the oracle: every output and gradient agrees within float32 rounding of different
/// summation orders.
final class BlockedLayoutTests: XCTestCase {
    private func values(_ shape: [Int], seed: UInt64, requiresGrad: Bool = true) -> Tensor {
        let generator = RandomGenerator(seed: seed)
        return Tensor((0..<shape.reduce(1, *)).map { _ in 2 * generator.uniform() - 1 }, shape: shape, requiresGrad: requiresGrad)
    }

    private func assertClose(_ a: Tensor?, _ b: Tensor?, _ what: String, tolerance: Float = 1e-4, line: UInt = #line) {
        guard let a, let b else { return XCTFail("\(what): missing", line: line) }
        XCTAssertEqual(a.shape, b.shape, what, line: line)
        let scale = max(b.scalars.map(abs).max() ?? 0, 1e-6)
        let difference = zip(a.scalars, b.scalars).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(difference / scale, tolerance, "\(what): max difference \(difference) against max |value| \(scale)", line: line)
    }

    /// A ResNet block's pieces and the voice encoder's pool, with BatchNorm in training or, with gradients still
    /// flowing, in evaluation mode (a frozen layer inside a network that trains).
    private func chain(keepLayout: Bool, training: Bool) -> (output: Tensor, gradients: [Tensor?], running: [Float]) {
        let x = values([4, 3, 20, 20], seed: 1)
        let w1 = values([16, 3, 3, 3], seed: 2), w2 = values([16, 16, 3, 3], seed: 3), w3 = values([16, 16, 1, 1], seed: 4)
        let gamma = values([16], seed: 5), beta = values([16], seed: 6)
        let runningMean = Tensor(repeating: 0.1, shape: [16]), runningVar = Tensor(repeating: 2, shape: [16])
        func bn(_ h: Tensor, relu: Bool) -> Tensor {
            batchNorm2d(h, weight: gamma, bias: beta, runningMean: runningMean, runningVar: runningVar, training: training, relu: relu)
        }
        var h = bn(conv2d(x, weight: w1, bias: nil, stride: 1, padding: 1, keepLayout: keepLayout), relu: true)
        h = maxPool2d(h, kernel: 3, stride: 2, padding: 1)
        let block = addReLU(bn(conv2d(h, weight: w2, bias: nil, stride: 1, padding: 1, keepLayout: keepLayout), relu: false),
                            conv2d(h, weight: w3, bias: nil, keepLayout: keepLayout))
        let pooled = maxPool2d(block, kernel: 2, stride: 2)
        let output = pooled.plainLayout()
        XCTAssertNil(output.layout)
        if keepLayout { XCTAssertNotNil(pooled.layout, "the chain stayed in oneDNN's layout") }
        output.backward(values(output.shape, seed: 7, requiresGrad: false))
        return (output, [x.grad, w1.grad, w2.grad, w3.grad, gamma.grad, beta.grad], runningMean.scalars + runningVar.scalars)
    }

    func testTrainingChainMatchesRowMajor() {
        for training in [true, false] {
            let blocked = chain(keepLayout: true, training: training), plain = chain(keepLayout: false, training: training)
            assertClose(blocked.output, plain.output, "output (training \(training))")
            for (name, (a, b)) in zip(["x", "w1", "w2", "w3", "gamma", "beta"], zip(blocked.gradients, plain.gradients)) {
                assertClose(a, b, "gradient of \(name) (training \(training))", tolerance: 1e-3)
            }
            assertClose(Tensor(blocked.running, shape: [32]), Tensor(plain.running, shape: [32]), "running statistics")
        }
    }

    /// Both block widths oneDNN uses (8 with AVX2, 16 with AVX-512), whatever this CPU's, with a NaN and ties: the
    /// row-major pool's rule (the first maximum, a NaN wins) holds lane by lane.
    func testMaxPoolOnChannelBlocksFollowsTheRowMajorRule() throws {
        for block in [8, 16] {
            for (kernel, stride, padding) in [(3, 2, 1), (2, 2, 0)] {
                let dims = [2, 32, 9, 10]
                let plain = values(dims, seed: 11)
                plain.pointer[5] = .nan
                plain.pointer[40] = plain.pointer[41]
                let layout = try XCTUnwrap(ActivationLayout.channelBlocked(dims, block: block))
                XCTAssertEqual(layout.channelBlock, block)
                let blocked = Tensor.uninitialized(dims, in: layout)
                layout.reorder(from: plain.pointer, to: blocked.storage.pointer, toPlain: false)
                blocked.requiresGrad = true
                let expected = maxPool2d(plain, kernel: kernel, stride: stride, padding: padding)
                let pooled = maxPool2d(blocked, kernel: kernel, stride: stride, padding: padding)
                XCTAssertEqual(pooled.layout?.channelBlock, block)
                let result = pooled.plainLayout()
                XCTAssertEqual(result.scalars.map(\.bitPattern), expected.scalars.map(\.bitPattern), "k\(kernel) s\(stride) p\(padding), blocks of \(block)")
                let g = values(expected.shape, seed: 12, requiresGrad: false)
                expected.backward(g)
                result.backward(g)
                let gradient = try XCTUnwrap(blocked.grad), back = Tensor(uninitialized: dims)
                layout.reorder(from: gradient.storage.pointer, to: back.pointer, toPlain: true)
                XCTAssertEqual(back.scalars, plain.grad?.scalars, "gradient, k\(kernel) s\(stride) p\(padding), blocks of \(block)")
            }
        }
    }

    func testGlobalPoolAndRowMajorOpsTakeBlockedInput() {
        let x = values([2, 8, 6, 6], seed: 8), w = values([16, 8, 3, 3], seed: 9)
        let blocked = globalAveragePool(conv2d(x, weight: w, bias: nil, padding: 1, keepLayout: true))
        let plain = globalAveragePool(conv2d(x, weight: w, bias: nil, padding: 1))
        assertClose(blocked, plain, "global average pool")
        XCTAssertNil(blocked.layout)
    }

    func testNoBlockedLayoutWithoutGradient() {
        let x = values([2, 8, 6, 6], seed: 8, requiresGrad: false), w = values([16, 8, 3, 3], seed: 9, requiresGrad: false)
        XCTAssertNil(conv2d(x, weight: w, bias: nil, padding: 1, keepLayout: true).layout, "inference stays row-major")
    }
}
