import NN
import Tensor
import XCTest

/// Finite-difference checks of every op's backward pass, independent of PyTorch.
///
/// Float32 finite differences are normally good to a few digits only. For the ops that are linear in each input
/// (convolution, matrix products, pooling, reshaping, sums, products) the inputs here are small dyadic
/// rationals and the step is 1/64, so every product and partial sum is exact in float32 whatever the summation
/// order: the central difference is then the exact derivative and the check holds to 1e-6, float64-like. The smooth non-linear
/// ops (sigmoid, tanh, softmax, normalisation, GRU, cross-entropy) are checked by central differences at
/// h = 1e-2 with a relative tolerance of 2e-3, the float32 limit; the PyTorch fixtures pin them tighter.
final class GradientCheckTests: XCTestCase {
    /// Dyadic values k/8 with |k| <= 8, drawn from a fixed seed.
    static func dyadic(_ shape: [Int], seed: UInt64) -> Tensor {
        let generator = RandomGenerator(seed: seed)
        return Tensor((0..<shape.reduce(1, *)).map { _ in Float(Int(generator.next() % 17) - 8) / 8 }, shape: shape)
    }

    /// Smooth values in [-1, 1).
    static func smooth(_ shape: [Int], seed: UInt64) -> Tensor {
        let generator = RandomGenerator(seed: seed)
        return Tensor((0..<shape.reduce(1, *)).map { _ in 2 * generator.uniform() - 1 }, shape: shape)
    }

    /// Compares `d sum(f(inputs) * G) / d input` from backward with central differences of step `h`.
    func check(_ inputs: [Tensor], h: Float, tolerance: Double, exact: Bool, file: StaticString = #filePath, line: UInt = #line,
               _ f: ([Tensor]) -> Tensor) {
        for x in inputs { x.requiresGrad = true; x.grad = nil }
        let output = f(inputs)
        let weights = exact ? Self.dyadic(output.shape, seed: 99) : Self.smooth(output.shape, seed: 99)
        output.backward(weights)
        func loss() -> Double {
            withoutGrad {
                let y = f(inputs)
                return zip(y.scalars, weights.scalars).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            }
        }
        for (k, x) in inputs.enumerated() {
            guard let analytic = x.grad?.scalars else { XCTFail("input \(k) got no gradient", file: file, line: line); continue }
            var numeric = [Double](repeating: 0, count: x.count)
            for i in 0..<x.count {
                let saved = x.pointer[i]
                x.pointer[i] = saved + h
                let plus = loss()
                x.pointer[i] = saved - h
                let minus = loss()
                x.pointer[i] = saved
                numeric[i] = (plus - minus) / (2 * Double(h))
            }
            var difference = 0.0, norm = 0.0
            for (a, n) in zip(analytic, numeric) { difference = max(difference, abs(Double(a) - n)); norm = max(norm, abs(n)) }
            XCTAssertGreaterThan(norm, 0, "input \(k): the check would be vacuous", file: file, line: line)
            XCTAssertLessThanOrEqual(difference / max(norm, 1e-12), tolerance,
                                     "input \(k): max |analytic - numeric| \(difference) against max |numeric| \(norm)", file: file, line: line)
        }
    }

    func exact(_ inputs: [Tensor], file: StaticString = #filePath, line: UInt = #line, _ f: ([Tensor]) -> Tensor) {
        check(inputs, h: 1.0 / 64, tolerance: 1e-6, exact: true, file: file, line: line, f)
    }

    func approximate(_ inputs: [Tensor], file: StaticString = #filePath, line: UInt = #line, _ f: ([Tensor]) -> Tensor) {
        check(inputs, h: 1e-2, tolerance: 2e-3, exact: false, file: file, line: line, f)
    }

    func testConvolution() {
        for (stride, padding, bias) in [(1, 1, true), (2, 1, false), (2, 0, true), (1, 3, false)] {
            let x = Self.dyadic([2, 3, 7, 6], seed: 1), w = Self.dyadic([4, 3, 3, 3], seed: 2), b = Self.dyadic([4], seed: 3)
            exact(bias ? [x, w, b] : [x, w]) { conv2d($0[0], weight: $0[1], bias: bias ? $0[2] : nil, stride: stride, padding: padding) }
        }
    }

    func testMatrixProducts() {
        exact([Self.dyadic([2, 3, 5], seed: 4), Self.dyadic([2, 5, 4], seed: 5)]) { matmul($0[0], $0[1]) }
        exact([Self.dyadic([2, 3, 5], seed: 6), Self.dyadic([2, 4, 5], seed: 7)]) { matmul($0[0], $0[1], transposeB: true) }
        exact([Self.dyadic([2, 3, 5], seed: 8), Self.dyadic([5, 4], seed: 9)]) { matmul($0[0], $0[1]) }
        exact([Self.dyadic([3, 2, 5], seed: 10), Self.dyadic([4, 5], seed: 11), Self.dyadic([4], seed: 12)]) {
            linear($0[0], weight: $0[1], bias: $0[2])
        }
    }

    /// The 2x2 pool's vector path (eight outputs at a time, then the rest one by one) against a plain reading of the
    /// rule, on rows wide enough for both, with ties (the first in row-major order wins), a NaN (it wins) and an odd
    /// height (the last row is dropped): the same maxima, and the gradient on the same inputs.
    func testTwoByTwoPoolKeepsTheRuleInItsVectorPath() throws {
        let (n, c, h, w) = (2, 3, 5, 38)
        var values = (0..<(n * c * h * w)).map { Float(($0 * 7919) % 23) / 4 - 2 }
        values[2 * w + 17] = .nan
        let x = Tensor(values, shape: [n, c, h, w], requiresGrad: true)
        let y = maxPool2d(x, kernel: 2, stride: 2)
        let (oh, ow) = (h / 2, w / 2)
        XCTAssertEqual(y.shape, [n, c, oh, ow])
        var expected = [Float](repeating: 0, count: y.count), gradient = [Float](repeating: 0, count: x.count)
        let upstream = (0..<y.count).map { Float($0 % 5 + 1) }
        for p in 0..<(n * c) {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var at = p * h * w + 2 * oy * w + 2 * ox
                    for (dy, dx) in [(0, 1), (1, 0), (1, 1)] {
                        let candidate = p * h * w + (2 * oy + dy) * w + 2 * ox + dx
                        if values[candidate] > values[at] || values[candidate].isNaN { at = candidate }
                    }
                    let o = (p * oh + oy) * ow + ox
                    expected[o] = values[at]
                    gradient[at] += upstream[o]
                }
            }
        }
        XCTAssertEqual(y.scalars.map(\.bitPattern), expected.map(\.bitPattern))
        XCTAssertTrue(y.scalars.contains { $0.isNaN }, "the NaN reached the output")
        (y * Tensor(upstream, shape: y.shape)).sum().backward()
        XCTAssertEqual(try XCTUnwrap(x.grad).scalars, gradient)
    }

    func testPoolingAndShapes() {
        // Distinct values, so that no two elements of a window tie for the maximum.
        let distinct = Tensor((0..<2 * 2 * 7 * 6).map { Float(($0 * 37) % 168) / 8 - 10 }, shape: [2, 2, 7, 6])
        exact([distinct]) { maxPool2d($0[0], kernel: 3, stride: 2, padding: 1) }
        exact([distinct]) { maxPool2d($0[0], kernel: 2, stride: 2) }
        exact([Self.dyadic([2, 3, 4, 4], seed: 13)]) { globalAveragePool($0[0]) }
        exact([Self.dyadic([2, 3, 4], seed: 14)]) { $0[0].permuted([2, 0, 1]).reshaped([4, 6]) }
        exact([Self.dyadic([2, 5, 4], seed: 15)]) { $0[0].slice(axis: 1, 1..<3).mean(axis: 1) }
        exact([Self.dyadic([2, 3], seed: 16), Self.dyadic([2, 2], seed: 17)]) { concat([$0[0], $0[1]], axis: 1) }
        exact([Self.dyadic([2, 3], seed: 18), Self.dyadic([2, 3], seed: 19)]) { stack([$0[0], $0[1]], axis: 1).select(axis: 2, 1) }
        exact([Self.dyadic([2, 3, 4], seed: 20)]) { $0[0].sum() }
    }

    func testElementwiseWithBroadcasting() {
        exact([Self.dyadic([2, 3, 4], seed: 21), Self.dyadic([4], seed: 22)]) { $0[0] + $0[1] }
        exact([Self.dyadic([2, 3, 4], seed: 23), Self.dyadic([3, 1], seed: 24)]) { $0[0] - $0[1] }
        exact([Self.dyadic([2, 3, 4], seed: 25), Self.dyadic([2, 1, 4], seed: 26)]) { $0[0] * $0[1] }
        exact([Self.dyadic([2, 3], seed: 27)]) { $0[0] * 0.5 + 0.25 }
        exact([Self.dyadic([3, 4], seed: 60) + 1.0 / 32]) { relu($0[0]) }
        exact([Self.dyadic([3, 4], seed: 61)]) { square($0[0]) }
        exact([Self.dyadic([3, 4], seed: 62)]) { dropout($0[0], p: 0.5, training: true, generator: RandomGenerator(seed: 5)) }
        exact([Self.dyadic([3, 4], seed: 28) + 1.0 / 32, Self.dyadic([3, 4], seed: 29) + 1.0 / 32]) { addReLU($0[0], $0[1]) }
        approximate([Self.smooth([2, 3], seed: 30), Self.smooth([2, 3], seed: 31) + 3]) { $0[0] / $0[1] }
    }

    func testSmoothActivations() {
        approximate([Self.smooth([3, 5], seed: 32)]) { sigmoid($0[0]) }
        approximate([Self.smooth([3, 5], seed: 33)]) { tanh($0[0]) }
        approximate([Self.smooth([3, 5], seed: 34)]) { exp($0[0]) }
        approximate([Self.smooth([3, 5], seed: 35) + 2]) { log($0[0]) }
        approximate([Self.smooth([3, 5], seed: 36) * 3]) { softmax($0[0]) }
    }

    func testNormalisation() {
        for (training, fused) in [(true, false), (true, true), (false, false), (false, true)] {
            let channels = 3
            approximate([Self.smooth([4, channels, 3, 2], seed: 37) * 2 + 0.3, Self.smooth([channels], seed: 38) + 1, Self.smooth([channels], seed: 39)]) {
                batchNorm2d($0[0], weight: $0[1], bias: $0[2], runningMean: Tensor(repeating: 0.1, shape: [channels]),
                            runningVar: Tensor(repeating: 0.8, shape: [channels]), training: training, relu: fused)
            }
        }
        approximate([Self.smooth([2, 3, 6], seed: 40) * 2, Self.smooth([6], seed: 41) + 1, Self.smooth([6], seed: 42)]) {
            layerNorm($0[0], weight: $0[1], bias: $0[2])
        }
    }

    func testRecurrence() {
        approximate([Self.smooth([2, 9], seed: 43), Self.smooth([2, 9], seed: 44), Self.smooth([2, 3], seed: 45)]) {
            gruCell(inputGates: $0[0], hiddenGates: $0[1], hidden: $0[2])
        }
    }

    func testLoss() {
        approximate([Self.smooth([4, 7], seed: 46) * 3]) {
            crossEntropy($0[0], targets: [0, 6, 3, 3], classWeights: [1, 2, 3, 1, 0.5, 1, 4], labelSmoothing: 0.1)
        }
    }

    func testAttention() {
        let attention = MultiheadAttention(embedDim: 8, heads: 2, generator: RandomGenerator(seed: 0))
        for (i, p) in attention.parameters.enumerated() { p.pointer.update(from: Self.smooth(p.shape, seed: 50 + UInt64(i)).scalars, count: p.count) }
        approximate([Self.smooth([2, 3, 8], seed: 47), Self.smooth([2, 4, 8], seed: 48)]) {
            attention(query: $0[0], key: $0[1], value: $0[1])
        }
    }

    /// Gradients accumulate across backward passes into leaves, and no-grad evaluation builds no graph.
    func testAccumulationAndNoGrad() {
        let x = Tensor([1, 2, 3], shape: [3], requiresGrad: true)
        (x * 2).sum().backward()
        (x * 3).sum().backward()
        XCTAssertEqual(x.grad?.scalars, [5, 5, 5])
        let y = withoutGrad { x * 2 }
        XCTAssertFalse(y.requiresGrad)
        let z = x * x
        z.sum().backward()
        XCTAssertEqual(x.grad?.scalars, [7, 9, 11])

        let layer = Linear(2, 1)
        layer(Tensor([1, 2], shape: [1, 2])).sum().backward()
        XCTAssertEqual(layer.weight.grad?.scalars, [1, 2])
        layer.zeroGrad()
        XCTAssertEqual(layer.weight.grad?.scalars, [0, 0])
        XCTAssertEqual(layer.bias?.grad?.scalars, [0])
    }
}
