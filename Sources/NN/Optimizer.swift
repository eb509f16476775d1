import Foundation
import Tensor

/// PyTorch's `Adam` (L2 weight decay added to the gradient, not AdamW) over a model's flat parameter and
/// gradient buffers, with parameter groups chosen by name prefix, each with its own base learning rate.
public final class Adam {
    public struct Group {
        public var name: String
        /// Names starting with any of these prefixes belong to the group; an empty list takes the rest.
        public var prefixes: [String]
        public var learningRate: Double
        public init(name: String, prefixes: [String], learningRate: Double) {
            self.name = name; self.prefixes = prefixes; self.learningRate = learningRate
        }
    }

    public let parameters: FlatParameters
    public let groups: [Group]
    public let beta1: Double, beta2: Double, eps: Double, weightDecay: Double
    /// Optimiser steps taken so far.
    public private(set) var steps = 0
    /// First and second moments, flat like the parameters.
    public let exponentialAverage: TensorStorage, exponentialAverageSquares: TensorStorage
    /// For each parameter, the index of its group.
    private let groupOfParameter: [Int]
    /// Parameters the optimiser leaves alone (as PyTorch's leaves those with `requires_grad=False`): no update, no decay.
    private let isFrozen: [Bool]

    /// `frozen`: prefixes of the parameter names that are never updated.
    public init(_ parameters: FlatParameters, groups: [Group], betas: (Double, Double) = (0.9, 0.999),
                eps: Double = 1e-8, weightDecay: Double = 0, frozen: [String] = []) {
        self.parameters = parameters
        self.groups = groups
        beta1 = betas.0; beta2 = betas.1
        self.eps = eps
        self.weightDecay = weightDecay
        groupOfParameter = parameters.names.map { name in
            groups.firstIndex { g in g.prefixes.contains { name.hasPrefix($0) } } ?? groups.firstIndex { $0.prefixes.isEmpty } ?? 0
        }
        isFrozen = parameters.names.map { name in frozen.contains { name.hasPrefix($0) } }
        exponentialAverage = TensorStorage(count: parameters.count)
        exponentialAverageSquares = TensorStorage(count: parameters.count)
        exponentialAverage.pointer.initialize(repeating: 0, count: parameters.count)
        exponentialAverageSquares.pointer.initialize(repeating: 0, count: parameters.count)
    }

    /// Continues from a checkpoint taken after `steps` updates (the moments are restored into their buffers by the caller).
    public func resume(afterSteps steps: Int) { self.steps = steps }

    /// MODEL.md's groups: `visual.*` 1e-4, `audio.*` 5e-4, everything else 1e-3.
    public static func modelGroups(visual: Double = 1e-4, audio: Double = 5e-4, other: Double = 1e-3) -> [Group] {
        [Group(name: "visual", prefixes: ["visual."], learningRate: visual),
         Group(name: "audio", prefixes: ["audio."], learningRate: audio),
         Group(name: "other", prefixes: [], learningRate: other)]
    }

    /// One update with each group's base learning rate times `factor` (the schedule's value for this step),
    /// in PyTorch's single-tensor arithmetic; each gradient multiplied by `gradientScale` first when given (a clip's
    /// scale: the same bytes as scaling the buffer, one pass fewer). `within` updates only that part of the flat buffers
    /// (data-parallel workers each take a share and exchange the results): each element's bits are those of a whole step.
    public func step(learningRateFactor factor: Double = 1, gradientScale: Float? = nil, within part: Range<Int>? = nil) {
        steps += 1
        let t = Double(steps)
        let correction1 = 1 - Foundation.pow(beta1, t)
        let correction2Root = (1 - Foundation.pow(beta2, t)).squareRoot()
        let constants = Constants(b1: Float(1 - beta1), b2: Float(beta2), oneMinusB2: Float(1 - beta2), decay: Float(weightDecay),
                                  epsilon: Float(eps), root: Float(correction2Root), gradientScale: gradientScale)
        let buffers = (p: parameters.values.pointer, g: parameters.gradients.pointer, m: exponentialAverage.pointer, v: exponentialAverageSquares.pointer)
        for (index, tensor) in parameters.tensors.enumerated() where !isFrozen[index] {
            let stepSize = Float(groups[groupOfParameter[index]].learningRate * factor / correction1)
            var start = parameters.offsets[index], end = start + tensor.count
            if let part {
                (start, end) = (max(start, part.lowerBound), min(end, part.upperBound))
                guard start < end else { continue }
            }
            // Sixteen at a time: a scalar loop spent most of a small model's step on its divisions and square roots.
            var i = start
            while i + 16 <= end {
                let (g, p, m, v) = (buffers.g + i, buffers.p + i, buffers.m + i, buffers.v + i)
                var moments = (UnsafeRawPointer(m).loadUnaligned(as: Lanes.self), UnsafeRawPointer(v).loadUnaligned(as: Lanes.self))
                let updated = Self.update(UnsafeRawPointer(p).loadUnaligned(as: Lanes.self), gradient: UnsafeRawPointer(g).loadUnaligned(as: Lanes.self),
                                          moments: &moments, constants, stepSize: stepSize)
                UnsafeMutableRawPointer(m).storeBytes(of: moments.0, as: Lanes.self)
                UnsafeMutableRawPointer(v).storeBytes(of: moments.1, as: Lanes.self)
                UnsafeMutableRawPointer(p).storeBytes(of: updated, as: Lanes.self)
                i += 16
            }
            if i < end {  // a tensor's last few elements, in lanes of their own (the others compute on zeros, unstored)
                var lanes = (p: Lanes(), g: Lanes(), m: Lanes(), v: Lanes())
                for k in 0..<end - i {
                    lanes.p[k] = buffers.p[i + k]; lanes.g[k] = buffers.g[i + k]; lanes.m[k] = buffers.m[i + k]; lanes.v[k] = buffers.v[i + k]
                }
                var moments = (lanes.m, lanes.v)
                let updated = Self.update(lanes.p, gradient: lanes.g, moments: &moments, constants, stepSize: stepSize)
                for k in 0..<end - i { buffers.p[i + k] = updated[k]; buffers.m[i + k] = moments.0[k]; buffers.v[i + k] = moments.1[k] }
            }
        }
    }

    private typealias Lanes = SIMD16<Float>

    private struct Constants {
        var b1, b2, oneMinusB2, decay, epsilon, root: Float
        var gradientScale: Float?
    }

    /// One Adam update of sixteen parameters: their new values; the moments updated in place. Each lane does PyTorch's
    /// single-tensor operations in their order, with no fused multiply-add, so the bytes are those of a scalar loop.
    @inline(__always)
    private static func update(_ p: Lanes, gradient: Lanes, moments: inout (Lanes, Lanes), _ c: Constants, stepSize: Float) -> Lanes {
        var grad = gradient
        if let scale = c.gradientScale { grad *= scale }
        if c.decay != 0 { grad += c.decay * p }
        moments.0 += (grad - moments.0) * c.b1
        moments.1 = c.b2 * moments.1 + c.oneMinusB2 * grad * grad
        let denominator = moments.1.squareRoot() / c.root + c.epsilon
        return p - stepSize * (moments.0 / denominator)
    }
}

/// MODEL.md's schedule: linear warm-up to the base rate over `warmup` steps, then a cosine down to
/// `floor` times the base rate at the last step.
public struct WarmupCosine: Sendable {
    public var warmup: Int, total: Int, floor: Double

    public init(warmup: Int, total: Int, floor: Double = 0.01) {
        self.warmup = warmup; self.total = total; self.floor = floor
    }

    /// The factor for optimiser step `s` (1-based).
    public func factor(step s: Int) -> Double {
        if s <= warmup { return Double(s) / Double(max(warmup, 1)) }
        guard total > warmup else { return floor }
        let progress = Double(s - warmup) / Double(total - warmup)
        return floor + (1 - floor) * 0.5 * (1 + Foundation.cos(Double.pi * min(progress, 1)))
    }
}
