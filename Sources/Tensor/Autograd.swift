import Foundation

/// One recorded operation: where its inputs' gradients go and how to compute them from its output's.
/// Edges point at the nodes that made the inputs (or at leaf tensors), never at intermediate tensors, so an
/// activation is freed as soon as no operation still needs it, in the forward pass as in the backward.
final class GradNode {
    enum Edge {
        case node(GradNode)
        case leaf(Tensor)
    }

    let edges: [Edge?]
    let shape: [Int]
    var backward: ((Tensor) -> [Tensor?])?

    init(edges: [Edge?], shape: [Int], backward: @escaping (Tensor) -> [Tensor?]) {
        self.edges = edges
        self.shape = shape
        self.backward = backward
    }
}

/// Whether operations record a graph. Off inside `withoutGrad` (evaluation builds nothing to free later).
public enum GradMode {
    @TaskLocal static var disabled = false

    public static var isEnabled: Bool { !disabled }
}

/// Runs `body` without recording any graph, as `torch.no_grad()`.
public func withoutGrad<T>(_ body: () throws -> T) rethrows -> T {
    try GradMode.$disabled.withValue(true, operation: body)
}

extension Tensor {
    /// Makes `result` part of the graph when any input requires a gradient; `backward` maps the result's
    /// gradient to one gradient per input (nil where an input needs none). Closures should capture only what
    /// the gradient needs (shapes rather than tensors), since whatever they capture lives until backward.
    @discardableResult
    func recording(_ inputs: [Tensor], _ backward: @escaping (Tensor) -> [Tensor?]) -> Tensor {
        if GradMode.isEnabled && inputs.contains(where: { $0.requiresGrad }) {
            requiresGrad = true
            let edges: [GradNode.Edge?] = inputs.map { input in
                guard input.requiresGrad else { return nil }
                return input.node.map { .node($0) } ?? .leaf(input)
            }
            node = GradNode(edges: edges, shape: shape, backward: backward)
        }
        return self
    }

    /// Reverse-mode differentiation from this scalar (or from `gradient` of this tensor's shape): every leaf
    /// that requires grad gets d(self)/d(leaf) added to its `grad`. The graph is freed as it is walked.
    public func backward(_ gradient: Tensor? = nil) {
        // The caller's gradient is copied: gradients are summed in place as they flow.
        let seed = gradient?.copy() ?? Tensor(repeating: 1, shape: shape)
        precondition(seed.shape == shape, "backward: gradient of shape \(seed.shape) for a tensor of shape \(shape)")
        guard requiresGrad else { return }
        guard let root = node else { return accumulate(into: self, seed) }
        node = nil

        // Topological order of the nodes reachable from the root (iterative: GRUs make deep graphs).
        var order: [GradNode] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(GradNode, Bool)] = [(root, false)]
        while let (current, expanded) = stack.popLast() {
            if expanded { order.append(current); continue }
            guard visited.insert(ObjectIdentifier(current)).inserted else { continue }
            stack.append((current, true))
            for case .node(let input)? in current.edges where !visited.contains(ObjectIdentifier(input)) {
                stack.append((input, false))
            }
        }
        visited = []

        var pending: [ObjectIdentifier: Tensor] = [ObjectIdentifier(root): seed]
        while let current = order.popLast() {
            guard let gradient = pending.removeValue(forKey: ObjectIdentifier(current)), let backward = current.backward else { continue }
            current.backward = nil
            let inputGradients = backward(gradient)
            var handedOut = Set<ObjectIdentifier>()
            for (edge, inputGradient) in zip(current.edges, inputGradients) {
                guard let edge, let inputGradient else { continue }
                switch edge {
                case .leaf(let leaf):
                    precondition(inputGradient.shape == leaf.shape, "gradient of shape \(inputGradient.shape) for a leaf of shape \(leaf.shape)")
                    accumulate(into: leaf, inputGradient)
                case .node(let input):
                    precondition(inputGradient.shape == input.shape, "gradient of shape \(inputGradient.shape) for an input of shape \(input.shape)")
                    if let existing = pending[ObjectIdentifier(input)] {
                        existing.addInPlace(inputGradient)
                    } else {
                        // A gradient handed to two inputs (as `a + b` does) must not be summed into twice.
                        let fresh = handedOut.insert(ObjectIdentifier(inputGradient.storage)).inserted
                        pending[ObjectIdentifier(input)] = fresh ? inputGradient : inputGradient.copy()
                    }
                }
            }
        }
    }

    private func accumulate(into leaf: Tensor, _ gradient: Tensor) {
        if let existing = leaf.grad { existing.addInPlace(gradient) } else { leaf.grad = gradient.copy() }
    }

    /// Adds `other` (same count) into this tensor's storage, outside any graph.
    public func addInPlace(_ other: Tensor) {
        precondition(other.count == count, "addInPlace: \(other.shape) into \(shape)")
        precondition(other.layout === layout, "addInPlace: values in two layouts")
        let a = storage.pointer, b = other.storage.pointer
        for i in 0..<count { a[i] += b[i] }
    }

    /// Sets every value to zero, outside any graph.
    public func zero() { storage.pointer.update(repeating: 0, count: count) }
}
