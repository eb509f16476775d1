import Foundation
import Tensor

extension Module {
    /// PyTorch's default initialisation for every layer (and torchvision's for ResNet), from one seed: what training
    /// starts from when no `init` state dictionary is given. Modules are visited children first, in registration order,
    /// so the same seed gives the same values in every process.
    public func initializeParameters(seed: UInt64) {
        let random = RandomGenerator(seed: seed)
        for module in modules() { module.resetParameters(random) }
    }
}

extension Tensor {
    /// Fills the tensor with U(-bound, bound).
    public func fillUniform(bound: Float, _ random: RandomGenerator) {
        for i in 0..<count { pointer[i] = (2 * random.uniform() - 1) * bound }
    }

    /// Fills the tensor with N(0, std²) (Box-Muller on the generator's uniforms).
    public func fillNormal(std: Float, _ random: RandomGenerator) {
        for i in 0..<count {
            let u1 = max(Double(random.uniform()), 1e-12), u2 = Double(random.uniform())
            pointer[i] = Float((-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)) * std
        }
    }

    public func fill(_ value: Float) { pointer.update(repeating: value, count: count) }

    /// Inputs per output of a weight: every dimension but the first (PyTorch's `fan_in`).
    public var fanIn: Int { count / max(shape.first ?? 1, 1) }
}

