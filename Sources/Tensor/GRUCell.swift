import Foundation

/// One step of PyTorch's GRU from the two gate projections (each (B, 3H), gates in r, z, n order):
/// `r = σ(i_r + h_r)`, `z = σ(i_z + h_z)`, `n = tanh(i_n + r * h_n)`, `h' = (1 - z) * n + z * h`.
/// One graph node per step instead of a dozen keeps the backward pass through time cheap.
public func gruCell(inputGates gi: Tensor, hiddenGates gh: Tensor, hidden h: Tensor) -> Tensor {
    let batch = h.shape[0], size = h.shape[1]
    shapeCheck(gi.shape == [batch, 3 * size] && gh.shape == [batch, 3 * size],
               "gruCell: gates \(gi.shape), \(gh.shape) for hidden \(h.shape)")
    let result = Tensor(uninitialized: h.shape)
    // r, z, n per element, kept for the backward pass.
    let saved = Tensor(uninitialized: [batch, 3 * size])
    for b in 0..<batch {
        let i = gi.pointer + b * 3 * size, g = gh.pointer + b * 3 * size, s = saved.pointer + b * 3 * size
        let hp = h.pointer + b * size, out = result.pointer + b * size
        for j in 0..<size {
            let r = 1 / (1 + expf(-(i[j] + g[j])))
            let z = 1 / (1 + expf(-(i[size + j] + g[size + j])))
            let n = tanhf(i[2 * size + j] + r * g[2 * size + j])
            s[j] = r; s[size + j] = z; s[2 * size + j] = n
            out[j] = (1 - z) * n + z * hp[j]
        }
    }
    let gatesShape = gi.shape
    return result.recording([gi, gh, h]) { grad in
        let dgi = Tensor(uninitialized: gatesShape), dgh = Tensor(uninitialized: gh.shape), dh = Tensor(uninitialized: h.shape)
        for b in 0..<batch {
            let s = saved.pointer + b * 3 * size, g = gh.pointer + b * 3 * size, hp = h.pointer + b * size
            let d = grad.pointer + b * size
            let oi = dgi.pointer + b * 3 * size, oh = dgh.pointer + b * 3 * size, od = dh.pointer + b * size
            for j in 0..<size {
                let r = s[j], z = s[size + j], n = s[2 * size + j]
                let dn = d[j] * (1 - z) * (1 - n * n)
                let dz = d[j] * (hp[j] - n) * z * (1 - z)
                let dr = dn * g[2 * size + j] * r * (1 - r)
                oi[j] = dr; oh[j] = dr
                oi[size + j] = dz; oh[size + j] = dz
                oi[2 * size + j] = dn; oh[2 * size + j] = dn * r
                od[j] = d[j] * z
            }
        }
        return [dgi, dgh, dh]
    }
}
