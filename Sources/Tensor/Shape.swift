import Foundation

extension Tensor {
    /// The same values under another shape (one dimension may be -1); shares storage.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var target = newShape
        if let unknown = target.firstIndex(of: -1) {
            let known = target.enumerated().filter { $0.offset != unknown }.map(\.element).reduce(1, *)
            shapeCheck(known > 0 && count % known == 0, "reshape \(shape) to \(newShape)")
            target[unknown] = count / known
        }
        shapeCheck(target.reduce(1, *) == count, "reshape \(shape) (\(count) values) to \(newShape)")
        let original = shape
        return Tensor(shape: target, storage: storage).recording([self]) { g in [g.reshaped(original)] }
    }

    /// Dimensions reordered: result dimension i is this tensor's dimension `order[i]` (a copy).
    public func permuted(_ order: [Int]) -> Tensor {
        shapeCheck(order.sorted() == Array(0..<rank), "permutation \(order) of shape \(shape)")
        let newShape = order.map { shape[$0] }
        var strides = [Int](repeating: 0, count: rank)
        var s = 1
        for d in stride(from: rank - 1, through: 0, by: -1) { strides[d] = s; s *= shape[d] }
        let sourceStrides = order.map { strides[$0] }
        let result = Tensor(uninitialized: newShape)
        let src = pointer, dst = result.pointer
        forEachOffset(newShape, sourceStrides, sourceStrides) { i, o, _ in dst[i] = src[o] }
        var inverse = [Int](repeating: 0, count: rank)
        for (i, d) in order.enumerated() { inverse[d] = i }
        return result.recording([self]) { g in [g.detached().permuted(inverse)] }
    }

    /// Elements `range` along `axis` (a copy).
    public func slice(axis: Int, _ range: Range<Int>) -> Tensor {
        let axis = normalize(axis)
        shapeCheck(range.lowerBound >= 0 && range.upperBound <= shape[axis], "slice \(range) of axis \(axis) of \(shape)")
        let outer = shape[..<axis].reduce(1, *), inner = shape[(axis + 1)...].reduce(1, *)
        var newShape = shape
        newShape[axis] = range.count
        let result = Tensor(uninitialized: newShape)
        let src = pointer, dst = result.pointer
        let block = range.count * inner
        for o in 0..<outer {
            (dst + o * block).update(from: src + (o * shape[axis] + range.lowerBound) * inner, count: block)
        }
        let fullShape = shape
        return result.recording([self]) { g in
            let dx = Tensor(zeros: fullShape)
            for o in 0..<outer {
                (dx.pointer + (o * fullShape[axis] + range.lowerBound) * inner).update(from: g.pointer + o * block, count: block)
            }
            return [dx]
        }
    }

    /// Index `index` of `axis`, with that dimension removed (a copy).
    public func select(axis: Int, _ index: Int) -> Tensor {
        let axis = normalize(axis)
        var newShape = shape
        newShape.remove(at: axis)
        return slice(axis: axis, index..<index + 1).reshaped(newShape)
    }
}

/// Tensors joined along an existing axis; all other dimensions must agree.
public func concat(_ tensors: [Tensor], axis: Int) -> Tensor {
    precondition(!tensors.isEmpty, "concat of no tensors")
    let first = tensors[0]
    let axis = first.normalize(axis)
    for t in tensors {
        shapeCheck(t.rank == first.rank && (0..<first.rank).allSatisfy { $0 == axis || t.shape[$0] == first.shape[$0] },
                   "concat along \(axis): \(tensors.map(\.shape))")
    }
    let outer = first.shape[..<axis].reduce(1, *), inner = first.shape[(axis + 1)...].reduce(1, *)
    let sizes = tensors.map { $0.shape[axis] }
    let total = sizes.reduce(0, +)
    var newShape = first.shape
    newShape[axis] = total
    let result = Tensor(uninitialized: newShape)
    var start = 0
    for (t, size) in zip(tensors, sizes) {
        for o in 0..<outer {
            (result.pointer + (o * total + start) * inner).update(from: t.pointer + o * size * inner, count: size * inner)
        }
        start += size
    }
    let parts = tensors.map { (shape: $0.shape, needed: $0.requiresGrad) }
    return result.recording(tensors) { g in
        var start = 0
        return zip(parts, sizes).map { part, size in
            defer { start += size }
            guard part.needed else { return nil }
            let dx = Tensor(uninitialized: part.shape)
            for o in 0..<outer {
                (dx.pointer + o * size * inner).update(from: g.pointer + (o * total + start) * inner, count: size * inner)
            }
            return dx
        }
    }
}

/// Tensors of one shape stacked along a new axis.
public func stack(_ tensors: [Tensor], axis: Int) -> Tensor {
    precondition(!tensors.isEmpty, "stack of no tensors")
    let shape = tensors[0].shape
    let axis = axis < 0 ? axis + shape.count + 1 : axis
    var expanded = shape
    expanded.insert(1, at: axis)
    for t in tensors { shapeCheck(t.shape == shape, "stack: \(tensors.map(\.shape))") }
    return concat(tensors.map { $0.reshaped(expanded) }, axis: axis)
}

extension Tensor {
    /// Sum of all elements, as a scalar tensor (accumulated in double precision).
    public func sum() -> Tensor {
        var total = 0.0
        let p = pointer
        for i in 0..<count { total += Double(p[i]) }
        let shape = self.shape
        return Tensor(scalar: Float(total)).recording([self]) { g in [Tensor(repeating: g.item, shape: shape)] }
    }

    /// Mean over one axis, which is removed.
    public func mean(axis: Int) -> Tensor {
        let axis = normalize(axis)
        let outer = shape[..<axis].reduce(1, *), n = shape[axis], inner = shape[(axis + 1)...].reduce(1, *)
        var newShape = shape
        newShape.remove(at: axis)
        let result = Tensor(zeros: newShape)
        let src = pointer, dst = result.pointer
        for o in 0..<outer {
            for k in 0..<n {
                let row = src + (o * n + k) * inner, out = dst + o * inner
                for i in 0..<inner { out[i] += row[i] }
            }
        }
        let scale = 1 / Float(n)
        for i in 0..<result.count { dst[i] *= scale }
        let fullShape = shape
        return result.recording([self]) { g in
            let dx = Tensor(uninitialized: fullShape)
            for o in 0..<outer {
                for k in 0..<n {
                    let row = dx.pointer + (o * n + k) * inner, gin = g.pointer + o * inner
                    for i in 0..<inner { row[i] = gin[i] * scale }
                }
            }
            return [dx]
        }
    }
}
