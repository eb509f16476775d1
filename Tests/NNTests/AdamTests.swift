import Foundation
import NN
import XCTest

/// Adam updates sixteen parameters at a time; each must come out as PyTorch's single-tensor arithmetic in a scalar
/// loop gives it, bit for bit, tensor ends (fewer than sixteen) and a clip's scale included.
final class AdamTests: XCTestCase {
    func testTheVectorUpdateIsTheScalarArithmeticBitForBit() {
        let layer = Linear(37, 5)  // 185 weights and 5 biases: neither a multiple of sixteen
        let flat = FlatParameters(layer)
        var seed: UInt32 = 12345
        func next() -> Float { seed = seed &* 1_664_525 &+ 1_013_904_223; return Float(Int32(bitPattern: seed)) / Float(Int32.max) }
        for i in 0..<flat.count { flat.values.pointer[i] = next() }
        let adam = Adam(flat, groups: [Adam.Group(name: "all", prefixes: [], learningRate: 3e-3)], weightDecay: 1e-2)
        var (p, m, v) = ((0..<flat.count).map { flat.values.pointer[$0] }, [Float](repeating: 0, count: flat.count), [Float](repeating: 0, count: flat.count))
        for step in 1...5 {
            for i in 0..<flat.count { flat.gradients.pointer[i] = next() * 4 }
            let gradients = (0..<flat.count).map { flat.gradients.pointer[$0] }
            let scale: Float? = step % 2 == 0 ? 0.37 : nil
            adam.step(learningRateFactor: 0.5, gradientScale: scale)
            let stepSize = Float(3e-3 * 0.5 / (1 - pow(0.9, Double(step))))
            let root = Float((1 - pow(0.999, Double(step))).squareRoot())
            for i in 0..<flat.count {
                var grad = gradients[i]
                if let scale { grad *= scale }
                grad += Float(1e-2) * p[i]
                m[i] += (grad - m[i]) * Float(1 - 0.9)
                v[i] = Float(0.999) * v[i] + Float(1 - 0.999) * grad * grad
                p[i] -= stepSize * (m[i] / (v[i].squareRoot() / root + Float(1e-8)))
            }
            for i in 0..<flat.count {
                XCTAssertEqual(flat.values.pointer[i].bitPattern, p[i].bitPattern, "step \(step), parameter \(i)")
                XCTAssertEqual(adam.exponentialAverage.pointer[i].bitPattern, m[i].bitPattern)
                XCTAssertEqual(adam.exponentialAverageSquares.pointer[i].bitPattern, v[i].bitPattern)
            }
        }
    }

    /// Data-parallel workers each step a share of the buffers (`within`); the shares together are the whole step, bit for
    /// bit, wherever a share's edge falls inside a tensor.
    func testStepsOverSharesAreTheWholeStep() {
        let whole = FlatParameters(Linear(37, 5)), shared = FlatParameters(Linear(37, 5))
        for i in 0..<whole.count {
            let value = Float(sin(Double(i) * 0.7))
            whole.values.pointer[i] = value; shared.values.pointer[i] = value
        }
        let groups = [Adam.Group(name: "weights", prefixes: ["weight"], learningRate: 2e-3), Adam.Group(name: "rest", prefixes: [], learningRate: 1e-2)]
        let shares = [0..<7, 7..<96, 96..<183, 183..<whole.count]  // edges inside the weight (185) and at neither tensor's start
        // One optimiser per share, as each worker has its own, over the same parameters.
        let (a, owners) = (Adam(whole, groups: groups, weightDecay: 1e-3), shares.map { _ in Adam(shared, groups: groups, weightDecay: 1e-3) })
        for step in 1...4 {
            for i in 0..<whole.count {
                let gradient = Float(cos(Double(i * step) * 0.3))
                whole.gradients.pointer[i] = gradient; shared.gradients.pointer[i] = gradient
            }
            a.step(learningRateFactor: 0.8, gradientScale: 0.5)
            for (owner, share) in zip(owners, shares) { owner.step(learningRateFactor: 0.8, gradientScale: 0.5, within: share) }
            for (owner, share) in zip(owners, shares) {
                for i in share {
                    XCTAssertEqual(shared.values.pointer[i].bitPattern, whole.values.pointer[i].bitPattern, "step \(step), parameter \(i)")
                    XCTAssertEqual(owner.exponentialAverage.pointer[i].bitPattern, a.exponentialAverage.pointer[i].bitPattern)
                    XCTAssertEqual(owner.exponentialAverageSquares.pointer[i].bitPattern, a.exponentialAverageSquares.pointer[i].bitPattern)
                }
            }
        }
    }
}
