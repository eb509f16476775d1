import Foundation
import Tensor

/// An integer buffer of a module (BatchNorm's `num_batches_tracked`), saved as I64 in a state dictionary.
public final class Counter {
    public var value: Int64 = 0
    public init() {}
}

/// One entry of a state dictionary: a float tensor (parameter or buffer) or an integer counter.
public enum StateEntry {
    case tensor(Tensor)
    case counter(Counter)
}

/// A node of the module tree, as PyTorch's `nn.Module`: named parameters, buffers and children, whose dotted
/// paths are the parameter names of a PyTorch `state_dict`, and a train/eval mode that children follow.
open class Module {
    public private(set) var training = true
    private var ownParameters: [(String, Tensor)] = []
    private var ownState: [(String, StateEntry)] = []
    private var children: [(String, Module)] = []

    public init() {}

    /// A new trainable tensor, to be registered with `register(parameter:_:)` once `self` exists.
    public static func makeParameter(_ shape: [Int], value: Float = 0) -> Tensor {
        let tensor = Tensor(repeating: value, shape: shape)
        tensor.requiresGrad = true
        return tensor
    }

    /// Lists a trainable tensor of this module under `name`.
    public func register(parameter name: String, _ tensor: Tensor) {
        ownParameters.append((name, tensor))
        ownState.append((name, .tensor(tensor)))
    }

    /// Lists a float buffer (running statistics) under `name`: saved and loaded, never trained.
    public func register(buffer name: String, _ tensor: Tensor) {
        ownState.append((name, .tensor(tensor)))
    }

    /// Lists an integer buffer under `name`.
    public func register(counter name: String, _ counter: Counter) {
        ownState.append((name, .counter(counter)))
    }

    /// Registers a child under `name` and returns it.
    @discardableResult
    public func child<M: Module>(_ name: String, _ module: M) -> M {
        children.append((name, module))
        return module
    }

    /// Every parameter with its dotted name, in PyTorch's order (own parameters, then children's in order).
    public func namedParameters(prefix: String = "") -> [(String, Tensor)] {
        ownParameters.map { (prefix + $0.0, $0.1) } + children.flatMap { $0.1.namedParameters(prefix: prefix + $0.0 + ".") }
    }

    /// Every state-dictionary entry with its dotted name, in `state_dict()` order.
    public func namedState(prefix: String = "") -> [(String, StateEntry)] {
        ownState.map { (prefix + $0.0, $0.1) } + children.flatMap { $0.1.namedState(prefix: prefix + $0.0 + ".") }
    }

    public var parameters: [Tensor] { namedParameters().map(\.1) }

    /// Every module below this one with its dotted name (this one's is empty), parents before their children.
    public func namedModules(prefix: String = "") -> [(String, Module)] {
        [(prefix, self)] + children.flatMap { $0.1.namedModules(prefix: prefix + $0.0 + ".") }
    }

    /// This module and every one below it, children before their parent (so a parent's `resetParameters` has the last word).
    public func modules() -> [Module] { children.flatMap { $0.1.modules() } + [self] }

    /// Gives this module's own parameters PyTorch's default initial values for its layer type, drawing from `random`.
    /// A module without parameters of its own, or whose construction values are PyTorch's (norm layers), does nothing.
    open func resetParameters(_ random: RandomGenerator) {}

    /// Sets every parameter's accumulated gradient to zero (in place, so gradients kept in a flat buffer stay there).
    public func zeroGrad() {
        for parameter in parameters { parameter.grad?.zero() }
    }

    /// Training mode (batch statistics, dropout) or evaluation mode, for this module and all below it.
    open func train(_ on: Bool = true) {
        training = on
        for (_, child) in children { child.train(on) }
    }

    public func eval() { train(false) }
}

/// A model's parameters in one contiguous buffer and their gradients in another, in `namedParameters` order:
/// a checkpoint is one write, and data-parallel workers all-reduce the gradient buffer in place.
public final class FlatParameters {
    public let names: [String]
    public let tensors: [Tensor]
    /// Offset of each parameter within the buffers.
    public let offsets: [Int]
    public let values: TensorStorage
    public let gradients: TensorStorage

    /// `gradientBuffer`, when given, holds the gradients instead of a buffer of their own (at least `count` floats, kept
    /// alive by its `owner`): a data-parallel worker passes its buffer in shared memory, which the exchange sums in place.
    public init(_ module: Module, gradientBuffer: (pointer: UnsafeMutablePointer<Float>, owner: AnyObject)? = nil) {
        let named = module.namedParameters()
        names = named.map(\.0)
        tensors = named.map(\.1)
        var offsets: [Int] = []
        var total = 0
        for t in tensors { offsets.append(total); total += t.count }
        self.offsets = offsets
        values = TensorStorage(count: total)
        if let gradientBuffer {
            gradients = TensorStorage(pointer: gradientBuffer.pointer, count: total, owner: gradientBuffer.owner)
            gradients.pointer.update(repeating: 0, count: total)
        } else {
            gradients = TensorStorage(count: total)
            gradients.pointer.initialize(repeating: 0, count: total)
        }
        for (t, offset) in zip(tensors, offsets) {
            t.rebind(to: TensorStorage(pointer: values.pointer + offset, count: t.count, owner: values))
            t.grad = Tensor(shape: t.shape, storage: TensorStorage(pointer: gradients.pointer + offset, count: t.count, owner: gradients))
        }
    }

    public var count: Int { values.count }

    public func zeroGrad() { gradients.pointer.update(repeating: 0, count: gradients.count) }

    /// L2 norm of all gradients together; `within` limits it to the part of the buffer that can be non-zero (the
    /// rest belongs to frozen parameters).
    public func gradientNorm(within range: Range<Int>? = nil) -> Double {
        let range = range ?? 0..<gradients.count
        let g = gradients.pointer
        // Squares summed in double in sixteen lanes, then across the lanes in a fixed order: one serial sum waited on each
        // addition in turn, and was a twentieth of a large model's step. The order is the same in every run and rank.
        var lanes = (SIMD8<Double>(), SIMD8<Double>())
        var i = range.lowerBound
        while i + 16 <= range.upperBound {
            let values = UnsafeRawPointer(g + i).loadUnaligned(as: SIMD16<Float>.self)
            let (low, high) = (SIMD8<Double>(values.lowHalf), SIMD8<Double>(values.highHalf))
            lanes.0 += low * low
            lanes.1 += high * high
            i += 16
        }
        var s = (lanes.0 + lanes.1).sum()
        while i < range.upperBound {
            s += Double(g[i]) * Double(g[i])
            i += 1
        }
        return s.squareRoot()
    }

    /// Scales the gradients so their global L2 norm is at most `maxNorm` (as `clip_grad_norm_`); returns the
    /// norm before clipping.
    @discardableResult
    public func clipGradientNorm(_ maxNorm: Double, within range: Range<Int>? = nil) -> Double {
        let norm = gradientNorm(within: range)
        if let s = Self.clipScale(norm: norm, maxNorm: maxNorm) {
            let g = gradients.pointer
            for i in range ?? 0..<gradients.count { g[i] *= s }
        }
        return norm
    }

    /// What `clipGradientNorm` multiplies the gradients by for this norm; nil when they are left as they are. Adam can
    /// apply it as it reads each gradient (`Adam.step(gradientScale:)`), sparing a pass over the buffer.
    public static func clipScale(norm: Double, maxNorm: Double) -> Float? {
        let scale = maxNorm / (norm + 1e-6)
        return scale < 1 ? Float(scale) : nil
    }
}
