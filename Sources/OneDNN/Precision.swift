import BufferPool
import COneDNN
import Foundation

/// The number format convolutions and matrix products take their operands in. Accumulation, outputs, everything
/// between those operations, master weights and optimiser state stay fp32 either way, as under PyTorch's CPU autocast.
public enum Precision: String, CaseIterable, Sendable {
    case fp32
    /// bfloat16 operands (fp32's exponent, 8 bits of mantissa), products summed in fp32: twice fp32's rate on CPUs
    /// with AVX512_BF16 or AMX.
    case bf16

    var operandType: dnnl_data_type_t { self == .bf16 ? dnnl_bf16 : dnnl_f32 }

    /// Why this CPU (as oneDNN may use it: `ONEDNN_MAX_CPU_ISA` caps it) cannot compute in this precision at its full
    /// rate; nil when it can. oneDNN would otherwise emulate bf16 on slower instructions, a loss and not a gain.
    public var unsupported: String? {
        guard self == .bf16 else { return nil }
        let isa = dnnl_get_effective_cpu_isa().rawValue, bf16 = dnnl_cpu_isa_avx512_core_bf16.rawValue
        if isa & bf16 == bf16 { return nil }
        return "this CPU (as oneDNN may use it: \(DNNL.isaName)) has neither AVX512_BF16 nor AMX, so bf16 would be emulated, slower than fp32"
    }
}

extension DNNL {
    /// Whether oneDNN's int8 kernels multiply 8-bit codes with VNNI (or AMX) here, exactly. Without it (AVX2, AVX-512
    /// without VNNI), its convolutions halve the weights first so that AVX2's pairwise int16 sums cannot saturate (oneDNN's
    /// "Nuances of int8 computations"): a quantized model then computes near, not exactly, its file's integer steps.
    public static var hasVNNI: Bool {
        let isa = dnnl_get_effective_cpu_isa().rawValue
        return [dnnl_cpu_isa_avx512_core_vnni, dnnl_cpu_isa_avx2_vnni].contains { isa & $0.rawValue == $0.rawValue }
    }

    /// The instruction set oneDNN uses on this CPU, in its own words (as `ONEDNN_MAX_CPU_ISA` names them).
    public static var isaName: String {
        let isa = dnnl_get_effective_cpu_isa()
        let names: [(dnnl_cpu_isa_t, String)] = [
            (dnnl_cpu_isa_avx512_core_amx, "AVX512_CORE_AMX"), (dnnl_cpu_isa_avx512_core_bf16, "AVX512_CORE_BF16"),
            (dnnl_cpu_isa_avx512_core_vnni, "AVX512_CORE_VNNI"), (dnnl_cpu_isa_avx512_core, "AVX512_CORE"),
            (dnnl_cpu_isa_avx2_vnni, "AVX2_VNNI"), (dnnl_cpu_isa_avx2, "AVX2"), (dnnl_cpu_isa_avx, "AVX"), (dnnl_cpu_isa_sse41, "SSE41"),
        ]
        return names.first { $0.0 == isa }?.1 ?? "ISA 0x\(String(isa.rawValue, radix: 16))"
    }
}

/// The bfloat16 nearest to `value`, ties to even (the rounding oneDNN's conversions use); NaN stays NaN.
@inline(__always)
public func bfloat16Bits(_ value: Float) -> UInt16 {
    let bits = value.bitPattern
    if value.isNaN { return UInt16(truncatingIfNeeded: bits >> 16) | 0x40 }
    return UInt16(truncatingIfNeeded: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)
}

/// `value` rounded to the nearest bfloat16 and widened back: what a bf16 operand stands for.
@inline(__always)
public func bfloat16Rounded(_ value: Float) -> Float { Float(bitPattern: UInt32(bfloat16Bits(value)) << 16) }

extension DNNL {
    /// Row-major `C = op(A) op(B) (+ C when accumulating)` with A and B rounded to bf16 and products summed in fp32
    /// (`A` M x K, or K x M when transposed; `B` K x N, or N x K), on oneDNN's matmul primitive.
    package static func gemmBF16(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                                 c: UnsafeMutablePointer<Float>, accumulate: Bool) {
        guard m > 0, n > 0 else { return }
        guard k > 0 else {
            if !accumulate { c.update(repeating: 0, count: m * n) }
            return
        }
        let plan = BF16MatMul.plan(BF16MatMul.Shape(m: m, n: n, k: k, transA: transA, transB: transB, accumulate: accumulate))
        let aBytes = m * k * 2, bBytes = k * n * 2
        let a16 = BufferPool.allocate(bytes: aBytes), b16 = BufferPool.allocate(bytes: bBytes)
        defer { BufferPool.release(a16, bytes: aBytes); BufferPool.release(b16, bytes: bBytes) }
        convertToBF16(a, a16.assumingMemoryBound(to: UInt16.self), count: m * k)
        convertToBF16(b, b16.assumingMemoryBound(to: UInt16.self), count: k * n)
        plan.run(a16, b16, c)
    }

    /// Rounds `count` floats to bf16 codes, on the engine's threads when there are many.
    package static func convertToBF16(_ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<UInt16>, count: Int) {
        let block = 1 << 16
        let blocks = (count + block - 1) / block
        let convert = { (index: Int) in
            for i in index * block..<min(count, (index + 1) * block) { destination[i] = bfloat16Bits(source[i]) }
        }
        if blocks > 1 { parallelFor(blocks, convert) } else if count > 0 { convert(0) }
    }
}

/// A matmul primitive for one shape with bf16 operands in plain row-major layouts (a transposed operand as the
/// other order of the same buffer) and an fp32 result, summed into the result when accumulating.
private final class BF16MatMul {
    struct Shape: Hashable {
        var m: Int, n: Int, k: Int, transA: Bool, transB: Bool, accumulate: Bool
    }

    private let primitive: Primitive
    private let a: dnnl_memory_desc_t, b: dnnl_memory_desc_t, c: dnnl_memory_desc_t

    nonisolated(unsafe) private static var plans: [Shape: BF16MatMul] = [:]
    private static let lock = NSLock()

    static func plan(_ shape: Shape) -> BF16MatMul {
        lock.withLock {
            if let plan = plans[shape] { return plan }
            let plan = BF16MatMul(shape)
            plans[shape] = plan
            return plan
        }
    }

    private init(_ shape: Shape) {
        func md(_ rows: Int, _ columns: Int, _ type: dnnl_data_type_t, transposed: Bool) -> dnnl_memory_desc_t {
            var md = dnnl_memory_desc_t()
            DNNL.check(dnnl_memory_desc_init_by_tag(&md, 2, [Int64(rows), Int64(columns)], type, transposed ? dnnl_ba : dnnl_ab),
                       "matmul memory descriptor \(rows)x\(columns)")
            return md
        }
        a = md(shape.m, shape.k, dnnl_bf16, transposed: shape.transA)
        b = md(shape.k, shape.n, dnnl_bf16, transposed: shape.transB)
        c = md(shape.m, shape.n, dnnl_f32, transposed: false)
        var src = a, weights = b, dst = c
        var desc = dnnl_matmul_desc_t()
        let name = "bf16 matmul \(shape.m)x\(shape.n)x\(shape.k)"
        DNNL.check(dnnl_matmul_desc_init(&desc, &src, &weights, nil, &dst), name)
        var attributes: dnnl_primitive_attr_t?, postOps: dnnl_post_ops_t?
        DNNL.check(dnnl_primitive_attr_create(&attributes), "primitive attributes")
        DNNL.check(dnnl_post_ops_create(&postOps), "post-ops")
        if shape.accumulate { DNNL.check(dnnl_post_ops_append_sum(postOps, 1), "a sum post-op") }
        DNNL.check(dnnl_primitive_attr_set_post_ops(attributes, postOps), "setting post-ops")
        primitive = withUnsafePointer(to: &desc) { Primitive.plan(UnsafeRawPointer($0), attributes: attributes, name: name) }
        dnnl_post_ops_destroy(postOps)
        dnnl_primitive_attr_destroy(attributes)
    }

    func run(_ a16: UnsafeMutableRawPointer, _ b16: UnsafeMutableRawPointer, _ result: UnsafeMutablePointer<Float>) {
        let src = Memory(a, pointer: a16), weights = Memory(b, pointer: b16), dst = Memory(c, pointer: UnsafeMutableRawPointer(result))
        primitive.execute([(DNNL_ARG_SRC, src.handle), (DNNL_ARG_WEIGHTS, weights.handle), (DNNL_ARG_DST, dst.handle)])
        withExtendedLifetime((src, weights, dst)) {}
    }
}
