import Foundation

/// PyTorch's `max_pool2d` (square kernel, stride, padding that never wins, floor rounding) on NCHW input.
public func maxPool2d(_ x: Tensor, kernel: Int, stride: Int, padding: Int = 0) -> Tensor {
    shapeCheck(x.rank == 4, "maxPool2d: input \(x.shape) is not NCHW")
    let planes = x.shape[0] * x.shape[1], h = x.shape[2], w = x.shape[3]
    let oh = (h + 2 * padding - kernel) / stride + 1, ow = (w + 2 * padding - kernel) / stride + 1
    shapeCheck(oh > 0 && ow > 0, "maxPool2d: input \(x.shape) too small for kernel \(kernel)")
    let result = Tensor(uninitialized: [x.shape[0], x.shape[1], oh, ow])
    // Where each output came from, for the backward scatter.
    let argmax = UnsafeMutablePointer<Int32>.allocate(capacity: result.count)
    let indices = IndexBuffer(argmax)
    let src = x.pointer, dst = result.pointer
    parallelFor(planes, work: x.count) { p in
        let s = src + p * h * w, d = dst + p * oh * ow, a = argmax + p * oh * ow
        for oy in 0..<oh {
            let y0 = oy * stride - padding
            for ox in 0..<ow {
                let x0 = ox * stride - padding
                var best = -Float.infinity, at: Int32 = -1
                for ky in max(y0, 0)..<min(y0 + kernel, h) {
                    for kx in max(x0, 0)..<min(x0 + kernel, w) {
                        let v = s[ky * w + kx]
                        if v > best || at < 0 || v.isNaN { best = v; at = Int32(ky * w + kx) }
                    }
                }
                d[oy * ow + ox] = best
                a[oy * ow + ox] = at
            }
        }
    }
    let inputShape = x.shape, inputCount = x.count
    return result.recording([x]) { g in
        let dx = Tensor(zeros: inputShape)
        let gp = g.pointer, o = dx.pointer, a = indices.pointer
        parallelFor(planes, work: inputCount) { p in
            let gg = gp + p * oh * ow, aa = a + p * oh * ow, oo = o + p * h * w
            for i in 0..<oh * ow { oo[Int(aa[i])] += gg[i] }
        }
        return [dx]
    }
}

/// Owns the argmax indices a max-pool keeps for its backward pass.
private final class IndexBuffer {
    let pointer: UnsafeMutablePointer<Int32>
    init(_ pointer: UnsafeMutablePointer<Int32>) { self.pointer = pointer }
    deinit { pointer.deallocate() }
}

/// Mean over each NCHW plane: `adaptive_avg_pool2d(x, 1)` flattened to (N, C).
public func globalAveragePool(_ x: Tensor) -> Tensor {
    shapeCheck(x.rank == 4, "globalAveragePool: input \(x.shape) is not NCHW")
    let planes = x.shape[0] * x.shape[1], size = x.shape[2] * x.shape[3]
    let result = Tensor(uninitialized: [x.shape[0], x.shape[1]])
    let src = x.pointer, dst = result.pointer
    for p in 0..<planes {
        var s: Float = 0
        let q = src + p * size
        for i in 0..<size { s += q[i] }
        dst[p] = s / Float(size)
    }
    let shape = x.shape
    return result.recording([x]) { g in
        let dx = Tensor(uninitialized: shape)
        for p in 0..<planes {
            let v = g.pointer[p] / Float(size)
            (dx.pointer + p * size).update(repeating: v, count: size)
        }
        return [dx]
    }
}
