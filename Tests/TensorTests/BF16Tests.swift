import NN
import OneDNN
import Tensor
import TestSupport
import XCTest

/// bf16 as PyTorch's CPU autocast means it: operands rounded to bf16 (to nearest, ties to even), products summed in fp32.
/// The oracle is the same operation in fp32 (itself held to PyTorch's fixtures) on operands rounded first: bf16's result
/// must be that within fp32 summation order, in the forward pass and in both gradients; and within bf16's precision of
/// PyTorch's fp32 result.
final class BF16Tests: XCTestCase {
    /// Every test but the rounding's needs the CPU's bf16 (the rounding is the project's own and runs anywhere).
    override func setUpWithError() throws {
        if let why = Precision.bf16.unsupported, name.contains("testRoundingIsToNearestEven") == false { throw XCTSkip(why) }
    }

    func testRoundingIsToNearestEven() {
        XCTAssertEqual(bfloat16Bits(1), 0x3F80)
        XCTAssertEqual(bfloat16Bits(1 + 0x1p-8), 0x3F80, "a tie goes to the even code")
        XCTAssertEqual(bfloat16Bits(1 + 3 * 0x1p-8), 0x3F82, "a tie goes to the even code")
        XCTAssertEqual(bfloat16Bits(1 + 0x1p-8 + 0x1p-20), 0x3F81, "above the tie rounds up")
        XCTAssertEqual(bfloat16Bits(-2.5), 0xC020)
        XCTAssertEqual(bfloat16Rounded(.greatestFiniteMagnitude), .infinity, "past bf16's largest finite value")
        XCTAssertTrue(bfloat16Rounded(.nan).isNaN)
        XCTAssertEqual(bfloat16Rounded(.infinity), .infinity)
    }

    /// Values in [-1, 1] that bf16 cannot hold exactly.
    private func values(_ shape: [Int], seed: Double) -> Tensor {
        Tensor((0..<shape.reduce(1, *)).map { Float(sin(Double($0) * 0.7313 + seed)) }, shape: shape)
    }

    private func rounded(_ t: Tensor, grad: Bool = false) -> Tensor {
        let r = Tensor(t.scalars.map(bfloat16Rounded), shape: t.shape)
        r.requiresGrad = grad
        return r
    }

    private func leaf(_ t: Tensor) -> Tensor {
        let copy = t.copy()
        copy.requiresGrad = true
        return copy
    }

    /// `output` and the leaves' gradients from `op` in bf16, against `op` in fp32 on the rounded operands (the first two
    /// leaves; a third is a bias, which stays fp32) with the rounded output gradient.
    private func check(_ name: String, leaves: [Tensor], gradOut: Tensor, _ op: ([Tensor]) -> Tensor,
                       file: StaticString = #filePath, line: UInt = #line) {
        let bf16Leaves = leaves.map(leaf)
        let output = withPrecision(.bf16) { op(bf16Leaves) }
        output.backward(gradOut)
        let fp32Leaves = leaves.enumerated().map { $0.offset < 2 ? rounded($0.element, grad: true) : leaf($0.element) }
        let reference = op(fp32Leaves)
        reference.backward(rounded(gradOut))
        let forward = Tolerance.relativeL2(output.scalars, reference.scalars)
        XCTAssertLessThan(forward, 1e-5, "\(name): output against fp32 on rounded operands", file: file, line: line)
        for (index, (a, b)) in zip(bf16Leaves, fp32Leaves).enumerated() {
            let error = Tolerance.relativeL2(a.grad!.scalars, b.grad!.scalars)
            XCTAssertLessThan(error, 1e-5, "\(name): gradient of operand \(index) against fp32 on rounded operands", file: file, line: line)
        }
        // And it is not fp32: rounding the operands changed the result.
        let unrounded = op(leaves)
        XCTAssertNotEqual(output.scalars, unrounded.scalars, "\(name): bf16 gave fp32's bits", file: file, line: line)
    }

    func testConvolutionsComputeOnRoundedOperands() {
        for (stride, padding, kernel, bias) in [(1, 1, 3, false), (2, 3, 7, false), (2, 0, 1, true)] {
            let x = values([2, 16, 12, 12], seed: 0.1), w = values([32, 16, kernel, kernel], seed: 0.2)
            let b = values([32], seed: 0.3)
            let outSide = (12 + 2 * padding - kernel) / stride + 1
            check("conv k\(kernel) s\(stride)", leaves: bias ? [x, w, b] : [x, w], gradOut: values([2, 32, outSide, outSide], seed: 0.4)) { leaves in
                conv2d(leaves[0], weight: leaves[1], bias: bias ? leaves[2] : nil, stride: stride, padding: padding)
            }
        }
    }

    func testMatrixProductsComputeOnRoundedOperands() {
        check("matmul, B shared and transposed", leaves: [values([3, 5, 24], seed: 0.5), values([7, 24], seed: 0.6)], gradOut: values([3, 5, 7], seed: 0.7)) {
            matmul($0[0], $0[1], transposeB: true)
        }
        check("matmul, batched", leaves: [values([3, 5, 24], seed: 0.8), values([3, 24, 6], seed: 0.9)], gradOut: values([3, 5, 6], seed: 1.0)) {
            matmul($0[0], $0[1])
        }
        // Linear adds its bias into the output before the product sums into it; the bias's gradient sums the output's in
        // fp32, so the output gradient here is one bf16 holds exactly.
        check("linear", leaves: [values([9, 40], seed: 1.1), values([13, 40], seed: 1.2), values([13], seed: 1.3)],
              gradOut: rounded(values([9, 13], seed: 1.4))) {
            linear($0[0], weight: $0[1], bias: $0[2])
        }
    }

    /// Within bf16's precision of PyTorch's fp32 convolutions (relative L2 below 1 %: operands carry 8 bits).
    func testConvolutionsWithinBF16OfPyTorch() throws {
        for (name, stride, padding) in [("conv2d_k7_s2_p3", 2, 3), ("conv2d_k3_s1_p1", 1, 1), ("conv2d_k3_s2_p1_bias", 2, 1)] {
            let c = try OpsFixtureCase(name)
            let input = try c.tensor("input", grad: true), weight = try c.tensor("weight", grad: true)
            let bias = c.file.entries["bias"] != nil ? try c.tensor("bias", grad: true) : nil
            let output = withPrecision(.bf16) { conv2d(input, weight: weight, bias: bias, stride: stride, padding: padding) }
            output.backward(try c.tensor("grad_out"))
            for (key, value) in [("output", output), ("grad_input", input.grad!), ("grad_weight", weight.grad!)] {
                let error = Tolerance.relativeL2(value.scalars, try c.file.floats(key))
                XCTAssertLessThan(error, 1e-2, "\(name) \(key): relative L2 \(error) from PyTorch's fp32")
            }
        }
    }

    /// The precision is the forward pass's: a backward run outside the region still computes in bf16.
    func testTheBackwardPassKeepsTheForwardPassPrecision() {
        let x = values([4, 24], seed: 2.1), w = values([6, 24], seed: 2.2), g = values([4, 6], seed: 2.3)
        let inside = leaf(x), outside = leaf(x)
        let a = withPrecision(.bf16) { matmul(inside, w, transposeB: true) }
        let b = withPrecision(.bf16) { matmul(outside, w, transposeB: true) }
        withPrecision(.bf16) { a.backward(g) }
        b.backward(g)
        XCTAssertEqual(inside.grad!.scalars, outside.grad!.scalars)
    }
}
