import Foundation
import OneDNN

/// PyTorch's `max_pool2d` (square kernel, stride, padding that never wins, floor rounding, NaN propagates) on NCHW
/// input. The forward takes each output row's window rows as column maxima first (a loop the compiler vectorises), then
/// each window's maximum along them; the backward finds each window's winner again (the first maximum, or the last NaN,
/// as PyTorch picks it), so inference keeps no index buffer.
public func maxPool2d(_ x: Tensor, kernel: Int, stride: Int, padding: Int = 0) -> Tensor {
    shapeCheck(x.rank == 4, "maxPool2d: input \(x.shape) is not NCHW")
    if let layout = x.layout { return maxPool2d(x, in: layout, kernel: kernel, stride: stride, padding: padding) }
    let planes = x.shape[0] * x.shape[1], h = x.shape[2], w = x.shape[3]
    let oh = (h + 2 * padding - kernel) / stride + 1, ow = (w + 2 * padding - kernel) / stride + 1
    shapeCheck(oh > 0 && ow > 0, "maxPool2d: input \(x.shape) too small for kernel \(kernel)")
    let result = Tensor(uninitialized: [x.shape[0], x.shape[1], oh, ow])
    let src = x.pointer, dst = result.pointer
    // Each output row's and column's window, clipped to the input once rather than per output.
    let rows = (0..<oh).map { max($0 * stride - padding, 0)..<min($0 * stride - padding + kernel, h) }
    let columns = (0..<ow).map { max($0 * stride - padding, 0)..<min($0 * stride - padding + kernel, w) }
    // Where each maximum was (within its plane): the first in row-major order, a NaN if any (the last), so the
    // backward pass is one scatter instead of a second search. Kept only when a gradient will be asked for.
    let recording = GradMode.isEnabled && x.requiresGrad
    let winners = recording ? UnsafeMutablePointer<Int32>.allocate(capacity: result.count) : nil
    parallelFor(planes, work: x.count) { p in
        let s = src + p * h * w, d = dst + p * oh * ow
        let found = winners.map { $0 + p * oh * ow }
        if kernel == 2 && stride == 2 && padding == 0 {
            // The voice encoder's pool: whole 2x2 windows, eight outputs at a time from two rows of sixteen inputs split
            // into even and odd columns, each candidate taken where it wins by the rule above, in the same order.
            let lanes = SIMD8<Int32>(0, 2, 4, 6, 8, 10, 12, 14)
            for oy in 0..<oh {
                let top = s + 2 * oy * w, bottom = top + w
                var ox = 0
                while ox + 8 <= ow {
                    let upper = UnsafeRawPointer(top + 2 * ox).loadUnaligned(as: SIMD16<Float>.self)
                    let lower = UnsafeRawPointer(bottom + 2 * ox).loadUnaligned(as: SIMD16<Float>.self)
                    let first = lanes &+ Int32(2 * oy * w + 2 * ox)
                    var (best, at) = (upper.evenHalf, first)
                    @inline(__always) func consider(_ candidate: SIMD8<Float>, _ offset: Int32) {
                        let wins = (candidate .> best) .| (candidate .!= candidate)
                        best.replace(with: candidate, where: wins)
                        at.replace(with: first &+ offset, where: wins)
                    }
                    consider(upper.oddHalf, 1)
                    consider(lower.evenHalf, Int32(w))
                    consider(lower.oddHalf, Int32(w + 1))
                    UnsafeMutableRawPointer(d + oy * ow + ox).storeBytes(of: best, as: SIMD8<Float>.self)
                    if let found { UnsafeMutableRawPointer(found + oy * ow + ox).storeBytes(of: at, as: SIMD8<Int32>.self) }
                    ox += 8
                }
                for ox in ox..<ow {
                    let first = 2 * oy * w + 2 * ox
                    var (at, best) = (first, s[first])
                    @inline(__always) func consider(_ candidate: Int) {
                        let v = s[candidate]
                        if v > best || v.isNaN { (best, at) = (v, candidate) }
                    }
                    consider(first + 1)
                    consider(first + w)
                    consider(first + w + 1)
                    d[oy * ow + ox] = best
                    found?[oy * ow + ox] = Int32(at)
                }
            }
            return
        }
        for oy in 0..<oh {
            let window = rows[oy]
            for ox in 0..<ow {
                let span = columns[ox]
                var at = window.lowerBound * w + span.lowerBound
                var best = s[at]
                for row in window {
                    let line = row * w
                    for column in span {
                        // Selects rather than branches: which value wins is data, and a branch on it mispredicts.
                        let v = s[line + column], wins = v > best || v.isNaN
                        best = wins ? v : best
                        at = wins ? line + column : at
                    }
                }
                d[oy * ow + ox] = best
                found?[oy * ow + ox] = Int32(at)
            }
        }
    }
    guard let winners else { return result }
    let inputShape = x.shape
    let owner = PoolingWinners(winners)
    return result.recording([x]) { g in
        let dx = Tensor(zeros: inputShape)
        let gp = g.pointer, o = dx.pointer, at = owner.pointer
        parallelFor(planes, work: oh * ow) { p in
            let gg = gp + p * oh * ow, oo = o + p * h * w, found = at + p * oh * ow
            for i in 0..<(oh * ow) { oo[Int(found[i])] += gg[i] }
        }
        return [dx]
    }
}

/// The same on an activation with its channels in blocks (nChw8c, nChw16c: `ActivationLayout.channelBlock`), the
/// result in the same kind of layout: each window's maximum for eight channels at a time, by the row-major rule above.
/// Any other layout is pooled in row-major.
private func maxPool2d(_ x: Tensor, in layout: ActivationLayout, kernel: Int, stride: Int, padding: Int) -> Tensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let oh = (h + 2 * padding - kernel) / stride + 1, ow = (w + 2 * padding - kernel) / stride + 1
    shapeCheck(oh > 0 && ow > 0, "maxPool2d: input \(x.shape) too small for kernel \(kernel)")
    guard let block = layout.channelBlock, block % 8 == 0,
          let outputLayout = ActivationLayout.channelBlocked([n, c, oh, ow], block: block) else {
        return maxPool2d(x.plainLayout(), kernel: kernel, stride: stride, padding: padding)
    }
    let result = Tensor.uninitialized([n, c, oh, ow], in: outputLayout)
    let rows = (0..<oh).map { max($0 * stride - padding, 0)..<min($0 * stride - padding + kernel, h) }
    let columns = (0..<ow).map { max($0 * stride - padding, 0)..<min($0 * stride - padding + kernel, w) }
    let planes = n * c / block, inPlane = h * w * block, outPlane = oh * ow * block
    let winners = GradMode.isEnabled && x.requiresGrad ? UnsafeMutablePointer<Int32>.allocate(capacity: result.count) : nil
    let src = x.storage.pointer, dst = result.storage.pointer
    let lanes = SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7)
    parallelFor(planes, work: x.count) { p in
        let s = src + p * inPlane, d = dst + p * outPlane
        let found = winners.map { $0 + p * outPlane }
        for oy in 0..<oh {
            let window = rows[oy]
            for ox in 0..<ow {
                let span = columns[ox], out = (oy * ow + ox) * block
                for lane in Swift.stride(from: 0, to: block, by: 8) {
                    let first = (window.lowerBound * w + span.lowerBound) * block + lane
                    var best = UnsafeRawPointer(s + first).loadUnaligned(as: SIMD8<Float>.self), at = lanes &+ Int32(first)
                    for row in window {
                        for column in span {
                            let offset = (row * w + column) * block + lane
                            let candidate = UnsafeRawPointer(s + offset).loadUnaligned(as: SIMD8<Float>.self)
                            let wins = (candidate .> best) .| (candidate .!= candidate)
                            best.replace(with: candidate, where: wins)
                            at.replace(with: lanes &+ Int32(offset), where: wins)
                        }
                    }
                    UnsafeMutableRawPointer(d + out + lane).storeBytes(of: best, as: SIMD8<Float>.self)
                    if let found { UnsafeMutableRawPointer(found + out + lane).storeBytes(of: at, as: SIMD8<Int32>.self) }
                }
            }
        }
    }
    guard let winners else { return result }
    let owner = PoolingWinners(winners)
    return result.recording([x]) { g in
        precondition(g.layout === outputLayout, "maxPool2d: a gradient in another layout than the output's")
        let dx = Tensor.uninitialized(x.shape, in: layout)
        let gp = g.storage.pointer, o = dx.storage.pointer, at = owner.pointer
        parallelFor(planes, work: g.count) { p in
            let gg = gp + p * outPlane, oo = o + p * inPlane, found = at + p * outPlane
            oo.update(repeating: 0, count: inPlane)
            for i in 0..<outPlane { oo[Int(found[i])] += gg[i] }
        }
        return [dx]
    }
}

/// The argmax positions of a max pool, freed with the graph node that holds them.
private final class PoolingWinners {
    let pointer: UnsafeMutablePointer<Int32>
    init(_ pointer: UnsafeMutablePointer<Int32>) { self.pointer = pointer }
    deinit { pointer.deallocate() }
}

/// Mean over each NCHW plane: `adaptive_avg_pool2d(x, 1)` flattened to (N, C).
public func globalAveragePool(_ x: Tensor) -> Tensor {
    shapeCheck(x.rank == 4, "globalAveragePool: input \(x.shape) is not NCHW")
    let x = x.plainLayout()
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
