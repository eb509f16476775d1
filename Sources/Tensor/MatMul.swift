import Foundation
import OneDNN

/// `C (m x n) = op(A) op(B) (+ C when accumulate)`, row-major, on oneDNN: sgemm, or with operands rounded to bf16.
@inline(__always)
func gemm(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int,
          _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>, accumulate: Bool = false,
          precision: Precision) {
    if precision == .bf16 {
        DNNL.gemmBF16(transA: transA, transB: transB, m: m, n: n, k: k, a: a, b: b, c: c, accumulate: accumulate)
        return
    }
    DNNL.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: transA ? m : k, b: b, ldb: transB ? k : n,
               beta: accumulate ? 1 : 0, c: c, ldc: n)
}

/// Matrix product over the last two dimensions; leading (batch) dimensions must be equal, or `b` is 2-D and
/// shared by every batch. `transposeB` reads `b` as its transpose without copying it.
public func matmul(_ a: Tensor, _ b: Tensor, transposeB: Bool = false) -> Tensor {
    shapeCheck(a.rank >= 2 && b.rank >= 2, "matmul of \(a.shape) and \(b.shape)")
    let m = a.shape[a.rank - 2], k = a.shape[a.rank - 1]
    let bRows = b.shape[b.rank - 2], bCols = b.shape[b.rank - 1]
    let n = transposeB ? bRows : bCols
    shapeCheck((transposeB ? bCols : bRows) == k, "matmul: \(a.shape) by \(b.shape)\(transposeB ? " transposed" : "")")
    let batchShape = Array(a.shape.dropLast(2))
    let batch = batchShape.reduce(1, *)
    let shared = b.rank == 2
    shapeCheck(shared || Array(b.shape.dropLast(2)) == batchShape, "matmul batch dimensions: \(a.shape) by \(b.shape)")
    let result = Tensor(uninitialized: batchShape + [m, n])
    let precision = Autocast.precision
    if shared {
        gemm(false, transposeB, batch * m, n, k, a.pointer, b.pointer, result.pointer, precision: precision)
    } else {
        for i in 0..<batch {
            gemm(false, transposeB, m, n, k, a.pointer + i * m * k, b.pointer + i * k * n, result.pointer + i * m * n, precision: precision)
        }
    }
    return result.recording([a, b]) { g in
        var da: Tensor?, db: Tensor?
        if a.requiresGrad {
            // dA = G op(B)^T
            let dx = Tensor(uninitialized: a.shape)
            if shared {
                gemm(false, !transposeB, batch * m, k, n, g.pointer, b.pointer, dx.pointer, precision: precision)
            } else {
                for i in 0..<batch {
                    gemm(false, !transposeB, m, k, n, g.pointer + i * m * n, b.pointer + i * k * n, dx.pointer + i * m * k, precision: precision)
                }
            }
            da = dx
        }
        if b.requiresGrad {
            // dB = A^T G, or (A^T G)^T = G^T A when B was read transposed.
            let dx = Tensor(zeros: b.shape)
            if shared {
                if transposeB { gemm(true, false, n, k, batch * m, g.pointer, a.pointer, dx.pointer, precision: precision) }
                else { gemm(true, false, k, n, batch * m, a.pointer, g.pointer, dx.pointer, precision: precision) }
            } else {
                for i in 0..<batch {
                    if transposeB { gemm(true, false, n, k, m, g.pointer + i * m * n, a.pointer + i * m * k, dx.pointer + i * k * n, precision: precision) }
                    else { gemm(true, false, k, n, m, a.pointer + i * m * k, g.pointer + i * m * n, dx.pointer + i * k * n, precision: precision) }
                }
            }
            db = dx
        }
        return [da, db]
    }
}

/// `y = x W^T + b` over the last dimension of `x`, as PyTorch's `Linear` (W is out x in).
public func linear(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
    let inFeatures = weight.shape[1], outFeatures = weight.shape[0]
    shapeCheck(x.rank >= 1 && x.shape[x.rank - 1] == inFeatures, "linear: input \(x.shape) for weight \(weight.shape)")
    let rows = x.count / max(inFeatures, 1)
    let result = Tensor(uninitialized: Array(x.shape.dropLast()) + [outFeatures])
    let y = result.pointer
    let precision = Autocast.precision
    if let bias {
        for r in 0..<rows { (y + r * outFeatures).update(from: bias.pointer, count: outFeatures) }
    }
    gemm(false, true, rows, outFeatures, inFeatures, x.pointer, weight.pointer, y, accumulate: bias != nil, precision: precision)
    var inputs = [x, weight]
    if let bias { inputs.append(bias) }
    return result.recording(inputs) { g in
        var dx: Tensor?, dw: Tensor?, db: Tensor?
        if x.requiresGrad {
            let t = Tensor(uninitialized: x.shape)
            gemm(false, false, rows, inFeatures, outFeatures, g.pointer, weight.pointer, t.pointer, precision: precision)
            dx = t
        }
        if weight.requiresGrad {
            let t = Tensor(uninitialized: weight.shape)
            gemm(true, false, outFeatures, inFeatures, rows, g.pointer, x.pointer, t.pointer, precision: precision)
            dw = t
        }
        if let bias, bias.requiresGrad {
            let t = Tensor(zeros: bias.shape)
            let gp = g.pointer, o = t.pointer
            for r in 0..<rows { let row = gp + r * outFeatures; for j in 0..<outFeatures { o[j] += row[j] } }
            db = t
        }
        return [dx, dw, db]
    }
}
