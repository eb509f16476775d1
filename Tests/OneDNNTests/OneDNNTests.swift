import OneDNN
import TestSupport
import XCTest

/// oneDNN's matrix product and convolutions held to the definitions, computed here in double precision over plain loops:
/// the wrapper's layouts, transpositions and reorders must not change what is computed. Tolerance: float32 sums of at
/// most a few dozen products of values in [-1, 1], within 1e-4.
final class OneDNNTests: XCTestCase {
    private func values(_ count: Int, seed: Int) -> [Float] {
        (0..<count).map { Float(sin(Double($0 * 7 + seed) * 0.37)) }
    }

    func testMatrixProductInEveryTranspositionAndWithAccumulation() {
        checkMatrixProduct { DNNL.sgemm(transA: $0, transB: $1, m: $2, n: $3, k: $4, alpha: $5, a: $6, lda: $7, b: $8, ldb: $9, beta: $10, c: $11, ldc: $12) }
    }

    func testConvolutionForwardAndBothGradientsFollowTheirDefinitions() {
        let g = ConvolutionGeometry(batch: 2, inChannels: 3, outChannels: 4, height: 7, width: 6, kernelHeight: 3, kernelWidth: 3,
                                    stride: 2, padding: 1, hasBias: true)
        let input = values(g.inputDims.reduce(1, *), seed: 4), weight = values(g.weightDims.reduce(1, *), seed: 5)
        let bias = values(g.outChannels, seed: 6), gradOutput = values(g.outputDims.reduce(1, *), seed: 7)
        var output = [Float](repeating: 0, count: gradOutput.count), gradInput = [Float](repeating: 0, count: input.count)
        var gradWeight = [Float](repeating: 0, count: weight.count), gradBias = [Float](repeating: 0, count: bias.count)
        let plan = Convolution.plan(g)
        plan.forward(input: input, weight: weight, bias: bias, output: &output)
        plan.backwardData(gradOutput: gradOutput, weight: weight, gradInput: &gradInput)
        plan.backwardWeights(input: input, gradOutput: gradOutput, gradWeight: &gradWeight, gradBias: &gradBias)

        // The direct sums, each product visited once: output, and the gradients of sum(output * gradOutput).
        var expectedOutput = [Double](repeating: 0, count: output.count), expectedInput = [Double](repeating: 0, count: input.count)
        var expectedWeight = [Double](repeating: 0, count: weight.count), expectedBias = [Double](repeating: 0, count: bias.count)
        func index(_ dims: [Int], _ a: Int, _ b: Int, _ c: Int, _ d: Int) -> Int { ((a * dims[1] + b) * dims[2] + c) * dims[3] + d }
        for n in 0..<g.batch {
            for o in 0..<g.outChannels {
                for oy in 0..<g.outHeight {
                    for ox in 0..<g.outWidth {
                        let out = index(g.outputDims, n, o, oy, ox), upstream = Double(gradOutput[out])
                        expectedOutput[out] += Double(bias[o])
                        expectedBias[o] += upstream
                        for c in 0..<g.inChannels {
                            for ky in 0..<g.kernelHeight {
                                for kx in 0..<g.kernelWidth {
                                    let y = oy * g.stride - g.padding + ky, x = ox * g.stride - g.padding + kx
                                    guard (0..<g.height).contains(y), (0..<g.width).contains(x) else { continue }
                                    let i = index(g.inputDims, n, c, y, x), w = index(g.weightDims, o, c, ky, kx)
                                    expectedOutput[out] += Double(input[i]) * Double(weight[w])
                                    expectedInput[i] += upstream * Double(weight[w])
                                    expectedWeight[w] += upstream * Double(input[i])
                                }
                            }
                        }
                    }
                }
            }
        }
        for (name, got, expected) in [("output", output, expectedOutput), ("gradInput", gradInput, expectedInput),
                                      ("gradWeight", gradWeight, expectedWeight), ("gradBias", gradBias, expectedBias)] {
            XCTAssertEqual(got.count, expected.count)
            for (index, (a, b)) in zip(got, expected).enumerated() { XCTAssertEqual(Double(a), b, accuracy: 1e-4, "\(name)[\(index)]") }
        }
    }
}
