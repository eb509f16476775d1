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
    /// in PyTorch's single-tensor arithmetic.
    public func step(learningRateFactor factor: Double = 1) {
        steps += 1
        let t = Double(steps)
        let correction1 = 1 - Foundation.pow(beta1, t)
        let correction2Root = (1 - Foundation.pow(beta2, t)).squareRoot()
        let b1 = Float(1 - beta1), b2 = Float(beta2), oneMinusB2 = Float(1 - beta2)
        let decay = Float(weightDecay), epsilon = Float(eps), root = Float(correction2Root)
        let p = parameters.values.pointer, g = parameters.gradients.pointer
        let m = exponentialAverage.pointer, v = exponentialAverageSquares.pointer
        for (index, tensor) in parameters.tensors.enumerated() where !isFrozen[index] {
            let stepSize = Float(groups[groupOfParameter[index]].learningRate * factor / correction1)
            let start = parameters.offsets[index]
            for i in start..<start + tensor.count {
                var grad = g[i]
                if decay != 0 { grad += decay * p[i] }
                m[i] += (grad - m[i]) * b1
                v[i] = b2 * v[i] + oneMinusB2 * grad * grad
                let denominator = v[i].squareRoot() / root + epsilon
                p[i] -= stepSize * (m[i] / denominator)
            }
        }
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
