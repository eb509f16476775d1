import Foundation
import OneDNN

/// PyTorch's `batch_norm` over NCHW input, with ReLU fused on the output where asked (it saves a pass over
/// the data and the ReLU's own copy). Training normalises with the batch statistics and updates the running
/// ones in place (momentum, unbiased variance); evaluation normalises with the running statistics.
public func batchNorm2d(_ x: Tensor, weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor,
                        training: Bool, momentum: Float = 0.1, eps: Float = 1e-5, relu: Bool = false) -> Tensor {
    shapeCheck(x.rank == 4 && weight.count == x.shape[1], "batchNorm2d: input \(x.shape) for \(weight.count) channels")
    if let layout = x.layout {
        return batchNorm2d(x, in: layout, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar,
                           training: training, momentum: momentum, eps: eps, relu: relu)
    }
    let n = x.shape[0], channels = x.shape[1], plane = x.shape[2] * x.shape[3]
    let count = n * plane
    let mean = Tensor(uninitialized: [channels]), invStd = Tensor(uninitialized: [channels])
    let src = x.pointer
    if training {
        shapeCheck(count > 1, "batchNorm2d: training needs more than one value per channel, got input \(x.shape)")
        parallelFor(channels, work: x.count) { c in
            var sum = 0.0
            for b in 0..<n { sum += Double(Reduce.sum(src + (b * channels + c) * plane, plane)) }
            let m = sum / Double(count)
            // A second pass for the variance: the sum of squares alone loses precision when the mean is large.
            var v = 0.0
            for b in 0..<n { v += Double(Reduce.squaredDeviation(src + (b * channels + c) * plane, plane, mean: Float(m))) }
            let variance = v / Double(count)
            mean.pointer[c] = Float(m)
            invStd.pointer[c] = Float(1 / (variance + Double(eps)).squareRoot())
            runningMean.pointer[c] = (1 - momentum) * runningMean.pointer[c] + momentum * Float(m)
            runningVar.pointer[c] = (1 - momentum) * runningVar.pointer[c] + momentum * Float(variance * Double(count) / Double(count - 1))
        }
    } else {
        for c in 0..<channels {
            mean.pointer[c] = runningMean.pointer[c]
            invStd.pointer[c] = 1 / (runningVar.pointer[c] + eps).squareRoot()
        }
    }
    let result = Tensor(uninitialized: x.shape)
    let dst = result.pointer, gamma = weight.pointer, beta = bias.pointer
    parallelFor(channels, work: x.count) { c in
        let scale = gamma[c] * invStd.pointer[c], shift = beta[c] - mean.pointer[c] * scale
        for b in 0..<n {
            let o = (b * channels + c) * plane
            let p = src + o, q = dst + o
            if relu { for i in 0..<plane { q[i] = max(p[i] * scale + shift, 0) } }
            else { for i in 0..<plane { q[i] = p[i] * scale + shift } }
        }
    }
    let output = result.storage
    return result.recording([x, weight, bias]) { g in
        let dx = Tensor(uninitialized: x.shape), dgamma = Tensor(uninitialized: [channels]), dbeta = Tensor(uninitialized: [channels])
        let gp = g.pointer, y = output.pointer, o = dx.pointer
        parallelFor(channels, work: x.count) { c in
            let m = mean.pointer[c], s = invStd.pointer[c]
            var sumG = 0.0, sumGX = 0.0
            for b in 0..<n {
                let off = (b * channels + c) * plane
                // With the ReLU fused, the masked gradient is parked in dx for the second pass.
                let (a, d) = Reduce.gradientSums(gp + off, src + off, plane, mean: m, mask: relu ? y + off : nil, maskedOut: o + off)
                sumG += Double(a); sumGX += Double(d)
            }
            let dgam = Float(sumGX) * s
            dgamma.pointer[c] = dgam
            dbeta.pointer[c] = Float(sumG)
            let k = gamma[c] * s
            let source = relu ? UnsafePointer(o) : UnsafePointer(gp)
            if training {
                // dx = k (g - mean(g) - xhat mean(g xhat)), folded into one multiply-add per element.
                let meanG = Float(sumG / Double(count)), meanGX = dgam / Float(count)
                let slope = -k * s * meanGX, offset = -k * meanG + k * s * meanGX * m
                for b in 0..<n {
                    let off = (b * channels + c) * plane
                    let gg = source + off, xx = src + off, oo = o + off
                    for i in 0..<plane { oo[i] = k * gg[i] + slope * xx[i] + offset }
                }
            } else {
                for b in 0..<n {
                    let off = (b * channels + c) * plane
                    let gg = source + off, oo = o + off
                    for i in 0..<plane { oo[i] = k * gg[i] }
                }
            }
        }
        return [x.requiresGrad ? dx : nil, dgamma, dbeta]
    }
}

/// The same on an activation in a blocked layout, on oneDNN's batch normalization: the result and the input's gradient
/// stay in that layout.
private func batchNorm2d(_ x: Tensor, in layout: ActivationLayout, weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor,
                         training: Bool, momentum: Float, eps: Float, relu: Bool) -> Tensor {
    let channels = x.shape[1], count = x.count / channels
    let plan = BatchNormalization.plan(layout, relu: relu, globalStatistics: !training, eps: eps)
    let mean = training ? Tensor(uninitialized: [channels]) : runningMean.copy()
    let variance = training ? Tensor(uninitialized: [channels]) : runningVar.copy()
    let workspace = Workspace(bytes: plan.workspaceBytes)
    let result = Tensor.uninitialized(x.shape, in: layout)
    if training { shapeCheck(count > 1, "batchNorm2d: training needs more than one value per channel, got input \(x.shape)") }
    plan.forward(source: x.storage.pointer, destination: result.storage.pointer, scale: weight.pointer, shift: bias.pointer,
                 mean: mean.pointer, variance: variance.pointer, workspace: workspace.pointer)
    if training {
        // oneDNN's variance is the biased one; the running estimate takes the unbiased, as PyTorch's.
        let unbiased = Float(count) / Float(count - 1)
        for c in 0..<channels {
            runningMean.pointer[c] = (1 - momentum) * runningMean.pointer[c] + momentum * mean.pointer[c]
            runningVar.pointer[c] = (1 - momentum) * runningVar.pointer[c] + momentum * variance.pointer[c] * unbiased
        }
    }
    return result.recording([x, weight, bias]) { g in
        precondition(g.layout === layout, "batchNorm2d: a gradient in another layout than the output's")
        let dx = Tensor.uninitialized(x.shape, in: layout)
        let dgamma = Tensor(uninitialized: [channels]), dbeta = Tensor(uninitialized: [channels])
        plan.backward(source: x.storage.pointer, gradDestination: g.storage.pointer, scale: weight.pointer, mean: mean.pointer,
                      variance: variance.pointer, workspace: workspace.pointer, gradSource: dx.storage.pointer,
                      gradScale: dgamma.pointer, gradShift: dbeta.pointer)
        return [x.requiresGrad ? dx : nil, dgamma, dbeta]
    }
}

/// PyTorch's `layer_norm` over the last dimension.
public func layerNorm(_ x: Tensor, weight: Tensor, bias: Tensor, eps: Float = 1e-5) -> Tensor {
    let d = x.shape.last ?? 0
    shapeCheck(weight.count == d && bias.count == d, "layerNorm: input \(x.shape) for \(weight.count) features")
    let rows = x.count / max(d, 1)
    let result = Tensor(uninitialized: x.shape)
    let means = Tensor(uninitialized: [rows]), invStds = Tensor(uninitialized: [rows])
    let src = x.pointer, dst = result.pointer, w = weight.pointer, b = bias.pointer
    for r in 0..<rows {
        let p = src + r * d, q = dst + r * d
        var sum = 0.0
        for i in 0..<d { sum += Double(p[i]) }
        let m = sum / Double(d)
        var v = 0.0
        for i in 0..<d { let e = Double(p[i]) - m; v += e * e }
        let s = 1 / (v / Double(d) + Double(eps)).squareRoot()
        means.pointer[r] = Float(m); invStds.pointer[r] = Float(s)
        for i in 0..<d { q[i] = (p[i] - Float(m)) * Float(s) * w[i] + b[i] }
    }
    return result.recording([x, weight, bias]) { g in
        let dx = Tensor(uninitialized: x.shape), dw = Tensor(zeros: [d]), db = Tensor(zeros: [d])
        let gp = g.pointer, o = dx.pointer
        for r in 0..<rows {
            let p = src + r * d, gg = gp + r * d, oo = o + r * d
            let m = means.pointer[r], s = invStds.pointer[r]
            var sumDy = 0.0, sumDyX = 0.0
            for i in 0..<d {
                let xhat = (p[i] - m) * s
                let dy = gg[i] * w[i]
                sumDy += Double(dy); sumDyX += Double(dy * xhat)
                dw.pointer[i] += gg[i] * xhat
                db.pointer[i] += gg[i]
            }
            let meanDy = Float(sumDy / Double(d)), meanDyX = Float(sumDyX / Double(d))
            for i in 0..<d {
                let xhat = (p[i] - m) * s
                oo[i] = s * (gg[i] * w[i] - meanDy - xhat * meanDyX)
            }
        }
        return [dx, dw, db]
    }
}
