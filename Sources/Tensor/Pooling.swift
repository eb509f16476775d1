import Foundation

/// PyTorch's `max_pool2d` (square kernel, stride, padding that never wins, floor rounding, NaN propagates) on NCHW
/// input. The forward takes each output row's window rows as column maxima first (a loop the compiler vectorises), then
/// each window's maximum along them; the backward finds each window's winner again (the first maximum, or the last NaN,
/// as PyTorch picks it), so inference keeps no index buffer.
public func maxPool2d(_ x: Tensor, kernel: Int, stride: Int, padding: Int = 0) -> Tensor {
    shapeCheck(x.rank == 4, "maxPool2d: input \(x.shape) is not NCHW")
    let planes = x.shape[0] * x.shape[1], h = x.shape[2], w = x.shape[3]
    let oh = (h + 2 * padding - kernel) / stride + 1, ow = (w + 2 * padding - kernel) / stride + 1
    shapeCheck(oh > 0 && ow > 0, "maxPool2d: input \(x.shape) too small for kernel \(kernel)")
    let result = Tensor(uninitialized: [x.shape[0], x.shape[1], oh, ow])
    let src = x.pointer, dst = result.pointer
    // Each output row's and column's window, clipped to the input once rather than per output.
    let rows = (0..<oh).map { max($0 * stride - padding, 0)..<min($0 * stride - padding + kernel, h) }
    let columns = (0..<ow).map { max($0 * stride - padding, 0)..<min($0 * stride - padding + kernel, w) }
    @inline(__always) func larger(_ v: Float, _ best: Float) -> Float { v > best || v.isNaN ? v : best }
    parallelFor(planes, work: x.count) { p in
        let s = src + p * h * w, d = dst + p * oh * ow
        let maxima = UnsafeMutablePointer<Float>.allocate(capacity: w)
        defer { maxima.deallocate() }
        for oy in 0..<oh {
            let window = rows[oy]
            maxima.update(from: s + window.lowerBound * w, count: w)
            for row in window.dropFirst() {
                let line = s + row * w
                for column in 0..<w { maxima[column] = larger(line[column], maxima[column]) }
            }
            for ox in 0..<ow {
                let span = columns[ox]
                var best = maxima[span.lowerBound]
                for column in span.dropFirst() { best = larger(maxima[column], best) }
                d[oy * ow + ox] = best
            }
        }
    }
    let inputShape = x.shape, inputCount = x.count
    return result.recording([x]) { g in
        let dx = Tensor(zeros: inputShape)
        let gp = g.pointer, o = dx.pointer, input = x.pointer
        parallelFor(planes, work: inputCount) { p in
            let s = input + p * h * w, gg = gp + p * oh * ow, oo = o + p * h * w
            for oy in 0..<oh {
                let rowRange = rows[oy]
                for ox in 0..<ow {
                    let columnRange = columns[ox]
                    var at = rowRange.lowerBound * w + columnRange.lowerBound
                    var best = s[at]
                    for ky in rowRange {
                        for kx in columnRange {
                            let v = s[ky * w + kx]
                            if v > best || v.isNaN { best = v; at = ky * w + kx }
                        }
                    }
                    oo[at] += gg[oy * ow + ox]
                }
            }
        }
        return [dx]
    }
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
