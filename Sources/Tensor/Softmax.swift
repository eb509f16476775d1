import Foundation

/// Softmax over the last dimension.
public func softmax(_ x: Tensor) -> Tensor {
    let d = x.shape.last ?? 1
    let rows = x.count / max(d, 1)
    let result = Tensor(uninitialized: x.shape)
    let src = x.pointer, dst = result.pointer
    for r in 0..<rows { softmaxRow(src + r * d, dst + r * d, d) }
    let output = result.storage
    return result.recording([x]) { g in
        let dx = Tensor(uninitialized: x.shape)
        for r in 0..<rows {
            let y = output.pointer + r * d, gg = g.pointer + r * d, o = dx.pointer + r * d
            var dot: Float = 0
            for i in 0..<d { dot += gg[i] * y[i] }
            for i in 0..<d { o[i] = y[i] * (gg[i] - dot) }
        }
        return [dx]
    }
}

@inline(__always)
func softmaxRow(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ d: Int) {
    var top = -Float.infinity
    for i in 0..<d { top = max(top, x[i]) }
    var total: Float = 0
    for i in 0..<d { let e = expf(x[i] - top); y[i] = e; total += e }
    let inv = 1 / total
    for i in 0..<d { y[i] *= inv }
}

/// PyTorch's `cross_entropy` on logits (B, C) with integer targets, label smoothing and optional per-class
/// weights, reduced by the weighted mean (the sum of the targets' weights), as a scalar.
public func crossEntropy(_ logits: Tensor, targets: [Int], classWeights: [Float]? = nil, labelSmoothing: Float = 0) -> Tensor {
    shapeCheck(logits.rank == 2 && logits.shape[0] == targets.count,
               "crossEntropy: logits \(logits.shape) for \(targets.count) targets")
    let batch = logits.shape[0], classes = logits.shape[1]
    let w = classWeights ?? [Float](repeating: 1, count: classes)
    shapeCheck(w.count == classes, "crossEntropy: \(w.count) class weights for \(classes) classes")
    for t in targets { shapeCheck(t >= 0 && t < classes, "crossEntropy: target \(t) outside 0..<\(classes)") }
    let eps = Double(labelSmoothing), sumW = w.reduce(0.0) { $0 + Double($1) }
    let probabilities = Tensor(uninitialized: logits.shape)
    var total = 0.0, weightTotal = 0.0
    for i in 0..<batch {
        let z = logits.pointer + i * classes, p = probabilities.pointer + i * classes
        softmaxRow(z, p, classes)
        var top = -Double.infinity
        for c in 0..<classes { top = max(top, Double(z[c])) }
        var s = 0.0
        for c in 0..<classes { s += Foundation.exp(Double(z[c]) - top) }
        let logSum = top + Foundation.log(s)
        let y = targets[i]
        var smooth = 0.0
        for c in 0..<classes { smooth += Double(w[c]) * (logSum - Double(z[c])) }
        total += (1 - eps) * Double(w[y]) * (logSum - Double(z[y])) + eps / Double(classes) * smooth
        weightTotal += Double(w[y])
    }
    let result = Tensor(scalar: Float(total / weightTotal))
    return result.recording([logits]) { g in
        let dx = Tensor(uninitialized: logits.shape)
        let scale = Double(g.item) / weightTotal
        for i in 0..<batch {
            let p = probabilities.pointer + i * classes, o = dx.pointer + i * classes
            let y = targets[i]
            for c in 0..<classes {
                let pc = Double(p[c])
                var v = (1 - eps) * Double(w[y]) * (pc - (c == y ? 1 : 0))
                v += eps / Double(classes) * (sumW * pc - Double(w[c]))
                o[c] = Float(v * scale)
            }
        }
        return [dx]
    }
}
