import BufferPool
import Foundation
import OneDNN

/// Contiguous float32 memory: owned, or a window into a larger buffer whose owner it keeps alive
/// (a model's parameters and gradients live in one flat buffer each).
public final class TensorStorage: @unchecked Sendable {
    package let pointer: UnsafeMutablePointer<Float>
    public let count: Int
    private let owner: AnyObject?

    /// Fresh memory, uninitialised.
    public init(count: Int) {
        pointer = BufferPool.allocate(bytes: count * 4).bindMemory(to: Float.self, capacity: count)
        self.count = count
        owner = nil
    }

    /// A window of `count` values at `pointer`, valid while `owner` lives.
    package init(pointer: UnsafeMutablePointer<Float>, count: Int, owner: AnyObject) {
        self.pointer = pointer
        self.count = count
        self.owner = owner
    }

    deinit { if owner == nil { BufferPool.release(UnsafeMutableRawPointer(pointer), bytes: count * 4) } }
}

/// A float32 tensor on the CPU: a shape over contiguous row-major storage, and, when it takes part in
/// differentiation, the step of the graph that made it (define-by-run, as in PyTorch).
public final class Tensor: @unchecked Sendable {
    public let shape: [Int]
    public private(set) var storage: TensorStorage
    /// Whether gradients flow to this tensor: set on leaves (parameters, inputs), inherited by results.
    public var requiresGrad: Bool
    /// For a leaf that requires grad: the gradient accumulated by `backward()`.
    public var grad: Tensor?
    /// The operation that produced this tensor, kept only while a graph is being recorded.
    var node: GradNode?
    /// Set when the values are in a blocked layout a primitive computed them in rather than row-major: only the
    /// operations that take such layouts read them (convolution, batch normalization, max pooling, `addReLU`,
    /// `plainLayout`); any other reaches for `pointer` and stops there.
    public internal(set) var layout: ActivationLayout?

    public init(shape: [Int], storage: TensorStorage, requiresGrad: Bool = false) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        precondition(storage.count == shape.reduce(1, *), "storage of \(storage.count) values for shape \(shape)")
        self.shape = shape
        self.storage = storage
        self.requiresGrad = requiresGrad
    }

    /// Uninitialised values, to be written by the caller.
    public convenience init(uninitialized shape: [Int]) {
        self.init(shape: shape, storage: TensorStorage(count: shape.reduce(1, *)))
    }

    public convenience init(zeros shape: [Int], requiresGrad: Bool = false) {
        self.init(uninitialized: shape)
        storage.pointer.initialize(repeating: 0, count: count)
        self.requiresGrad = requiresGrad
    }

    public convenience init(repeating value: Float, shape: [Int]) {
        self.init(uninitialized: shape)
        storage.pointer.initialize(repeating: value, count: count)
    }

    public convenience init(_ values: [Float], shape: [Int], requiresGrad: Bool = false) {
        precondition(values.count == shape.reduce(1, *), "\(values.count) values for shape \(shape)")
        self.init(uninitialized: shape)
        if !values.isEmpty { values.withUnsafeBufferPointer { storage.pointer.update(from: $0.baseAddress!, count: values.count) } }
        self.requiresGrad = requiresGrad
    }

    public convenience init(scalar: Float) { self.init([scalar], shape: []) }

    public var count: Int { storage.count }
    public var rank: Int { shape.count }
    package var pointer: UnsafeMutablePointer<Float> {
        precondition(layout == nil, "a tensor of shape \(shape) in a blocked layout read as row-major; call plainLayout() first")
        return storage.pointer
    }
    package var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: storage.pointer, count: count) }
    public var scalars: [Float] { Array(buffer) }
    /// The single value of a one-element tensor.
    public var item: Float {
        precondition(count == 1, "item of a tensor of shape \(shape)")
        return pointer[0]
    }

    /// Moves the values into `destination` (same count) and uses it from now on: how a model gathers its
    /// parameters into one flat buffer after building them one by one.
    public func rebind(to destination: TensorStorage) {
        precondition(destination.count == count, "rebind \(shape) to \(destination.count) values")
        destination.pointer.update(from: pointer, count: count)
        storage = destination
    }

    /// A copy that shares nothing and is not part of any graph.
    public func copy() -> Tensor {
        let result = Tensor(uninitialized: shape)
        result.storage.pointer.update(from: storage.pointer, count: count)
        result.layout = layout
        return result
    }

    /// The same values outside the graph: no gradient flows through the result.
    public func detached() -> Tensor {
        let result = Tensor(shape: shape, storage: storage)
        result.layout = layout
        return result
    }

    func normalize(_ axis: Int) -> Int {
        let a = axis < 0 ? axis + rank : axis
        precondition(a >= 0 && a < rank, "axis \(axis) out of range for shape \(shape)")
        return a
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let head = buffer.prefix(8).map { String(format: "%.5g", $0) }.joined(separator: ", ")
        return "Tensor(\(shape), [\(head)\(count > 8 ? ", ..." : "")])"
    }
}

/// Stops on a shape mismatch inside an op, naming the op and the shapes. Inputs a user supplies are checked
/// (and thrown as errors) before they reach the ops: by the model, the state dictionary and the file readers.
@inline(__always) func shapeCheck(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("shape mismatch: \(message())") }
}
