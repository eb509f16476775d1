import OneDNN

extension Tensor {
    /// These values in row-major NCHW: itself when they are, else a reordered copy (the gradient flows back into the
    /// blocked layout). Where a network's convolutional part hands its activations to the rest.
    public func plainLayout() -> Tensor {
        guard let layout else { return self }
        let result = Tensor(uninitialized: shape)
        layout.reorder(from: storage.pointer, to: result.storage.pointer, toPlain: true)
        return result.recording([self]) { g in
            let dx = Tensor(uninitialized: g.shape)
            layout.reorder(from: g.pointer, to: dx.storage.pointer, toPlain: false)
            dx.layout = layout
            return [dx]
        }
    }

    /// Uninitialised values of `shape` in `layout`, to be written by a primitive.
    static func uninitialized(_ shape: [Int], in layout: ActivationLayout?) -> Tensor {
        let result = Tensor(uninitialized: shape)
        result.layout = layout
        return result
    }
}

/// Bytes a primitive leaves for its backward pass (which maxima won, where a ReLU passed), freed with the graph node
/// that holds them.
final class Workspace {
    let pointer: UnsafeMutableRawPointer?
    init(bytes: Int) { pointer = bytes > 0 ? UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64) : nil }
    deinit { pointer?.deallocate() }
}
