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
}
