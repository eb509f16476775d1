import Foundation

/// One recorded operation: the tensors it read and how to turn its output's gradient into theirs.
final class GradNode {
    let inputs: [Tensor]
    let backward: (Tensor) -> [Tensor?]

    init(inputs: [Tensor], backward: @escaping (Tensor) -> [Tensor?]) {
        self.inputs = inputs
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
    /// gradient to one gradient per input (nil where an input needs none).
    @discardableResult
    func recording(_ inputs: [Tensor], _ backward: @escaping (Tensor) -> [Tensor?]) -> Tensor {
        if GradMode.isEnabled && inputs.contains(where: { $0.requiresGrad }) {
            requiresGrad = true
            node = GradNode(inputs: inputs, backward: backward)
        }
        return self
    }

    /// Reverse-mode differentiation from this scalar (or from `gradient` of this tensor's shape): every leaf
    /// that requires grad gets d(self)/d(leaf) added to its `grad`. The graph is freed as it is walked.
    public func backward(_ gradient: Tensor? = nil) {
        let seed = gradient ?? Tensor(repeating: 1, shape: shape)
        precondition(seed.shape == shape, "backward: gradient of shape \(seed.shape) for a tensor of shape \(shape)")
        guard requiresGrad else { return }

        // Topological order of the nodes reachable from self (iterative: GRUs make deep graphs).
        var order: [Tensor] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Tensor, Bool)] = [(self, false)]
        while let (tensor, expanded) = stack.popLast() {
            if expanded { order.append(tensor); continue }
            guard visited.insert(ObjectIdentifier(tensor)).inserted else { continue }
            stack.append((tensor, true))
            for input in tensor.node?.inputs ?? [] where input.requiresGrad && input.node != nil {
                if !visited.contains(ObjectIdentifier(input)) { stack.append((input, false)) }
            }
        }

        var pending: [ObjectIdentifier: Tensor] = [ObjectIdentifier(self): seed]
        if node == nil { accumulateIntoLeaf(self, seed); return }
        for tensor in order.reversed() {
            guard let node = tensor.node, let gradient = pending.removeValue(forKey: ObjectIdentifier(tensor)) else { continue }
            tensor.node = nil
            let inputGradients = node.backward(gradient)
            var handedOut = Set<ObjectIdentifier>()
            for (input, inputGradient) in zip(node.inputs, inputGradients) {
                guard let inputGradient, input.requiresGrad else { continue }
                precondition(inputGradient.shape == input.shape,
                             "gradient of shape \(inputGradient.shape) for an input of shape \(input.shape)")
                if input.node == nil {
                    accumulateIntoLeaf(input, inputGradient)
                } else if let existing = pending[ObjectIdentifier(input)] {
                    existing.addInPlace(inputGradient)
                } else {
                    // A gradient handed to two inputs (as `a + b` does) must not be summed into twice.
                    let fresh = handedOut.insert(ObjectIdentifier(inputGradient.storage)).inserted
                    pending[ObjectIdentifier(input)] = fresh ? inputGradient : inputGradient.copy()
                }
            }
        }
    }

    private func accumulateIntoLeaf(_ leaf: Tensor, _ gradient: Tensor) {
        if let existing = leaf.grad { existing.addInPlace(gradient) } else { leaf.grad = gradient.copy() }
    }

    /// Adds `other` (same count) into this tensor's storage, outside any graph.
    public func addInPlace(_ other: Tensor) {
        precondition(other.count == count, "addInPlace: \(other.shape) into \(shape)")
        let a = pointer, b = other.pointer
        for i in 0..<count { a[i] += b[i] }
    }

    /// Sets every value to zero, outside any graph.
    public func zero() { pointer.update(repeating: 0, count: count) }
}
