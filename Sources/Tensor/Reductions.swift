/// Vectorised reductions over contiguous floats: eight independent lanes, so the sums neither wait on one
/// another nor depend on the compiler reassociating floating-point adds (it may not).
enum Reduce {
    /// Σ x[i].
    @inline(__always)
    static func sum(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var lanes = SIMD8<Float>()
        var i = 0
        while i + 8 <= n { lanes += UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self); i += 8 }
        var total = lanes.sum()
        while i < n { total += x[i]; i += 1 }
        return total
    }

    /// Σ (x[i] - m)².
    @inline(__always)
    static func squaredDeviation(_ x: UnsafePointer<Float>, _ n: Int, mean m: Float) -> Float {
        var lanes = SIMD8<Float>()
        let mv = SIMD8<Float>(repeating: m)
        var i = 0
        while i + 8 <= n {
            let d = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self) - mv
            lanes += d * d
            i += 8
        }
        var total = lanes.sum()
        while i < n { let d = x[i] - m; total += d * d; i += 1 }
        return total
    }

    /// (Σ g[i], Σ g[i] (x[i] - m)), with g first masked to 0 where `mask[i] <= 0` when a mask is given
    /// (a fused ReLU's output); the masked g is written to `maskedOut`.
    @inline(__always)
    static func gradientSums(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int, mean m: Float,
                             mask: UnsafePointer<Float>?, maskedOut: UnsafeMutablePointer<Float>) -> (Float, Float) {
        var a = SIMD8<Float>(), b = SIMD8<Float>()
        let mv = SIMD8<Float>(repeating: m), zero = SIMD8<Float>()
        var i = 0
        while i + 8 <= n {
            var gv = UnsafeRawPointer(g + i).loadUnaligned(as: SIMD8<Float>.self)
            if let mask {
                let y = UnsafeRawPointer(mask + i).loadUnaligned(as: SIMD8<Float>.self)
                gv.replace(with: zero, where: y .<= zero)
                UnsafeMutableRawPointer(maskedOut + i).storeBytes(of: gv, as: SIMD8<Float>.self)
            }
            a += gv
            b += gv * (UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self) - mv)
            i += 8
        }
        var sa = a.sum(), sb = b.sum()
        while i < n {
            var gi = g[i]
            if let mask { gi = mask[i] > 0 ? gi : 0; maskedOut[i] = gi }
            sa += gi; sb += gi * (x[i] - m); i += 1
        }
        return (sa, sb)
    }
}
