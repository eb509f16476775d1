import Foundation

/// The shape two operands broadcast to, by NumPy's and PyTorch's rule (trailing dimensions equal or 1).
public func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int]? {
    let rank = max(a.count, b.count)
    var result = [Int](repeating: 1, count: rank)
    for i in 0..<rank {
        let x = i < rank - a.count ? 1 : a[i - (rank - a.count)]
        let y = i < rank - b.count ? 1 : b[i - (rank - b.count)]
        guard x == y || x == 1 || y == 1 else { return nil }
        result[i] = max(x, y)
    }
    return result
}

/// Strides (in elements) of a tensor of `shape` read as `target` by broadcasting: 0 along repeated dimensions.
func broadcastStrides(_ shape: [Int], to target: [Int]) -> [Int] {
    var strides = [Int](repeating: 0, count: target.count)
    var step = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) {
        let t = i + target.count - shape.count
        strides[t] = shape[i] == 1 ? 0 : step
        step *= shape[i]
    }
    return strides
}

/// Visits every element of `shape` in row-major order with the matching offsets into two strided operands.
@inline(__always)
func forEachOffset(_ shape: [Int], _ sa: [Int], _ sb: [Int], _ body: (Int, Int, Int) -> Void) {
    let rank = shape.count
    let total = shape.reduce(1, *)
    if total == 0 { return }
    if rank == 0 { body(0, 0, 0); return }
    var index = [Int](repeating: 0, count: rank)
    var oa = 0, ob = 0
    let last = rank - 1, inner = shape[last], ia = sa[last], ib = sb[last]
    var i = 0
    while i < total {
        var a = oa, b = ob
        for j in 0..<inner { body(i + j, a, b); a += ia; b += ib }
        i += inner
        var d = last - 1
        while d >= 0 {
            index[d] += 1; oa += sa[d]; ob += sb[d]
            if index[d] < shape[d] { break }
            oa -= sa[d] * shape[d]; ob -= sb[d] * shape[d]; index[d] = 0
            d -= 1
        }
    }
}

extension Tensor {
    /// Sums a broadcast gradient back down to `shape` (the inverse of broadcasting it up).
    public func sumToShape(_ target: [Int]) -> Tensor {
        if shape == target { return self }
        let result = Tensor(zeros: target)
        let strides = broadcastStrides(target, to: shape)
        let src = pointer, dst = result.pointer
        forEachOffset(shape, [Int](repeating: 0, count: shape.count), strides) { i, _, o in dst[o] += src[i] }
        return result
    }
}

private enum BinaryOp { case add, sub, mul, div }

private func binary(_ a: Tensor, _ b: Tensor, _ op: BinaryOp) -> Tensor {
    let broadcast = broadcastShape(a.shape, b.shape)
    shapeCheck(broadcast != nil, "cannot broadcast \(a.shape) with \(b.shape)")
    let shape = broadcast!
    let result = Tensor(uninitialized: shape)
    let x = a.pointer, y = b.pointer, z = result.pointer
    if a.shape == b.shape {
        let n = result.count
        switch op {
        case .add: for i in 0..<n { z[i] = x[i] + y[i] }
        case .sub: for i in 0..<n { z[i] = x[i] - y[i] }
        case .mul: for i in 0..<n { z[i] = x[i] * y[i] }
        case .div: for i in 0..<n { z[i] = x[i] / y[i] }
        }
    } else {
        let sa = broadcastStrides(a.shape, to: shape), sb = broadcastStrides(b.shape, to: shape)
        switch op {
        case .add: forEachOffset(shape, sa, sb) { i, p, q in z[i] = x[p] + y[q] }
        case .sub: forEachOffset(shape, sa, sb) { i, p, q in z[i] = x[p] - y[q] }
        case .mul: forEachOffset(shape, sa, sb) { i, p, q in z[i] = x[p] * y[q] }
        case .div: forEachOffset(shape, sa, sb) { i, p, q in z[i] = x[p] / y[q] }
        }
    }
    let aShape = a.shape, bShape = b.shape, aNeeds = a.requiresGrad, bNeeds = b.requiresGrad
    switch op {
    case .add:
        return result.recording([a, b]) { g in [aNeeds ? g.sumToShape(aShape) : nil, bNeeds ? g.sumToShape(bShape) : nil] }
    case .sub:
        return result.recording([a, b]) { g in [aNeeds ? g.sumToShape(aShape) : nil, bNeeds ? (-g.detached()).sumToShape(bShape) : nil] }
    case .mul:
        return result.recording([a, b]) { g in
            [aNeeds ? (g.detached() * b.detached()).sumToShape(aShape) : nil,
             bNeeds ? (g.detached() * a.detached()).sumToShape(bShape) : nil]
        }
    case .div:
        return result.recording([a, b]) { g in
            let bd = b.detached()
            return [aNeeds ? (g.detached() / bd).sumToShape(aShape) : nil,
                    bNeeds ? (-(g.detached() * a.detached()) / (bd * bd)).sumToShape(bShape) : nil]
        }
    }
}

public func + (a: Tensor, b: Tensor) -> Tensor { binary(a, b, .add) }
public func - (a: Tensor, b: Tensor) -> Tensor { binary(a, b, .sub) }
public func * (a: Tensor, b: Tensor) -> Tensor { binary(a, b, .mul) }
public func / (a: Tensor, b: Tensor) -> Tensor { binary(a, b, .div) }

/// `y = x * scale + shift` elementwise, with scalar constants.
public func affine(_ x: Tensor, scale: Float, shift: Float = 0) -> Tensor {
    let result = Tensor(uninitialized: x.shape)
    let s = x.pointer, d = result.pointer
    for i in 0..<x.count { d[i] = s[i] * scale + shift }
    return result.recording([x]) { g in [affine(g.detached(), scale: scale)] }
}

public func * (a: Tensor, s: Float) -> Tensor { affine(a, scale: s) }
public func * (s: Float, a: Tensor) -> Tensor { affine(a, scale: s) }
public func + (a: Tensor, s: Float) -> Tensor { affine(a, scale: 1, shift: s) }
public prefix func - (a: Tensor) -> Tensor { affine(a, scale: -1) }

/// An elementwise function whose derivative is computed from its input and output.
private func unary(_ x: Tensor, _ f: (Float) -> Float, derivative: @escaping (_ x: Float, _ y: Float) -> Float) -> Tensor {
    let result = Tensor(uninitialized: x.shape)
    let s = x.pointer, d = result.pointer
    for i in 0..<x.count { d[i] = f(s[i]) }
    let output = result.storage
    return result.recording([x]) { g in
        let dx = Tensor(uninitialized: x.shape)
        let gp = g.pointer, xp = x.pointer, yp = output.pointer, o = dx.pointer
        for i in 0..<x.count { o[i] = gp[i] * derivative(xp[i], yp[i]) }
        return [dx]
    }
}

public func relu(_ x: Tensor) -> Tensor {
    let result = Tensor(uninitialized: x.shape)
    let s = x.pointer, d = result.pointer
    for i in 0..<x.count { d[i] = s[i] > 0 ? s[i] : 0 }
    // The mask comes from the output, so the input need not be kept alive for backward.
    let mask = result.storage
    return result.recording([x]) { g in
        let dx = Tensor(uninitialized: g.shape)
        let gp = g.pointer, y = mask.pointer, o = dx.pointer
        for i in 0..<g.count { o[i] = y[i] > 0 ? gp[i] : 0 }
        return [dx]
    }
}

public func sigmoid(_ x: Tensor) -> Tensor {
    unary(x, { 1 / (1 + expf(-$0)) }, derivative: { _, y in y * (1 - y) })
}

public func tanh(_ x: Tensor) -> Tensor {
    unary(x, { Foundation.tanhf($0) }, derivative: { _, y in 1 - y * y })
}

public func exp(_ x: Tensor) -> Tensor {
    unary(x, { expf($0) }, derivative: { _, y in y })
}

public func log(_ x: Tensor) -> Tensor {
    unary(x, { logf($0) }, derivative: { x, _ in 1 / x })
}

public func square(_ x: Tensor) -> Tensor {
    unary(x, { $0 * $0 }, derivative: { x, _ in 2 * x })
}

/// `relu(a + b)` for tensors of one shape in a single pass: a residual block's join.
public func addReLU(_ a: Tensor, _ b: Tensor) -> Tensor {
    shapeCheck(a.shape == b.shape, "addReLU: \(a.shape) and \(b.shape)")
    // Elementwise, so any one layout will do; two different ones meet in row-major.
    let (a, b) = a.layout === b.layout ? (a, b) : (a.plainLayout(), b.plainLayout())
    let layout = a.layout
    let result = Tensor.uninitialized(a.shape, in: layout)
    let x = a.storage.pointer, y = b.storage.pointer, z = result.storage.pointer
    parallelFor(2, work: a.count) { half in
        let range = half == 0 ? 0..<a.count / 2 : a.count / 2..<a.count
        for i in range { z[i] = max(x[i] + y[i], 0) }
    }
    let mask = result.storage, aNeeds = a.requiresGrad, bNeeds = b.requiresGrad
    return result.recording([a, b]) { g in
        precondition(g.layout === layout, "addReLU: a gradient in another layout than the output's")
        let dx = Tensor.uninitialized(g.shape, in: layout)
        let gp = g.storage.pointer, m = mask.pointer, o = dx.storage.pointer
        parallelFor(2, work: g.count) { half in
            let range = half == 0 ? 0..<g.count / 2 : g.count / 2..<g.count
            for i in range { o[i] = m[i] > 0 ? gp[i] : 0 }
        }
        return [aNeeds ? dx : nil, bNeeds ? dx : nil]
    }
}
