import BufferPool
import Foundation

/// PyTorch's `max_pool2d` (square kernel, stride, padding that never wins, floor rounding) on NCHW input.
public func maxPool2d(_ x: Tensor, kernel: Int, stride: Int, padding: Int = 0) -> Tensor {
    shapeCheck(x.rank == 4, "maxPool2d: input \(x.shape) is not NCHW")
    let planes = x.shape[0] * x.shape[1], h = x.shape[2], w = x.shape[3]
    let oh = (h + 2 * padding - kernel) / stride + 1, ow = (w + 2 * padding - kernel) / stride + 1
    shapeCheck(oh > 0 && ow > 0, "maxPool2d: input \(x.shape) too small for kernel \(kernel)")
    let result = Tensor(uninitialized: [x.shape[0], x.shape[1], oh, ow])
    // Where each output came from, for the backward scatter.
    let indices = IndexBuffer(count: result.count)
    let argmax = indices.pointer
    let src = x.pointer, dst = result.pointer
    // Each output row's and column's window, clipped to the input once rather than per output.
    let rows = (0..<oh).map { max($0 * stride - padding, 0)..<min($0 * stride - padding + kernel, h) }
    let columns = (0..<ow).map { max($0 * stride - padding, 0)..<min($0 * stride - padding + kernel, w) }
    parallelFor(planes, work: x.count) { p in
        let s = src + p * h * w, d = dst + p * oh * ow, a = argmax + p * oh * ow
        for oy in 0..<oh {
            let rowRange = rows[oy]
            for ox in 0..<ow {
                let columnRange = columns[ox]
                var at = rowRange.lowerBound * w + columnRange.lowerBound
                var best = s[at]
                for ky in rowRange {
                    let line = ky * w
                    for kx in columnRange {
                        let v = s[line + kx]
                        if v > best || v.isNaN { best = v; at = line + kx }
                    }
                }
                d[oy * ow + ox] = best
                a[oy * ow + ox] = Int32(at)
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
    let count: Int
    init(count: Int) {
        self.count = count
        pointer = BufferPool.allocate(bytes: count * 4).bindMemory(to: Int32.self, capacity: count)
    }
    deinit { BufferPool.release(UnsafeMutableRawPointer(pointer), bytes: count * 4) }
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
