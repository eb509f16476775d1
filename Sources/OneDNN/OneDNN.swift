import BufferPool
import COneDNN
import Foundation

/// oneDNN on the CPU: the library PyTorch itself uses for convolutions, here for the project's matrix products
/// and convolutions. oneDNN threads with OpenMP; callers keep their own threads idle while it runs.
public enum DNNL {
    /// Row-major `C = alpha * op(A) * op(B) + beta * C`, with `op` a transpose where asked.
    /// `A` is M x K (K x M when transposed), `B` is K x N (N x K when transposed), leading dimensions row strides.
    package static func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard m > 0, n > 0 else { return }
        if k == 0 {
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
            return
        }
        let status = dnnl_sgemm(transA ? 84 : 78, transB ? 84 : 78, Int64(m), Int64(n), Int64(k), alpha,
                                a, Int64(lda), b, Int64(ldb), beta, c, Int64(ldc))
        check(status, "sgemm \(m)x\(n)x\(k)")
    }

    /// Traps with the primitive's name and oneDNN's word for the status: a failure here is a shape or layout
    /// the engine asked for that oneDNN cannot do, or memory running out, never bad user input (which the
    /// model and the files validate first).
    static func check(_ status: dnnl_status_t, _ what: @autoclosure () -> String) {
        guard status != dnnl_success else { return }
        fatalError("oneDNN: \(what()) failed: \(describe(status))")
    }

    static func describe(_ status: dnnl_status_t) -> String {
        switch status {
        case dnnl_out_of_memory: return "out of memory"
        case dnnl_invalid_arguments: return "invalid arguments"
        case dnnl_unimplemented: return "oneDNN has no implementation for these shapes and layouts"
        case dnnl_iterator_ends: return "no implementation left to try"
        case dnnl_runtime_error: return "runtime error during execution"
        case dnnl_not_required: return "queried element not required"
        default: return "status \(status.rawValue)"
        }
    }

    /// One CPU engine and one in-order stream for the process.
    static let context: (engine: dnnl_engine_t, stream: dnnl_stream_t) = {
        var engine: dnnl_engine_t?
        check(dnnl_engine_create(&engine, dnnl_cpu, 0), "engine")
        var stream: dnnl_stream_t?
        check(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue), "stream")
        guard let engine, let stream else { preconditionFailure("oneDNN: no CPU engine or stream") }
        return (engine, stream)
    }()
}

/// A memory descriptor in a plain row-major layout (nchw, oihw, x).
func plainDescriptor(_ dims: [Int]) -> dnnl_memory_desc_t {
    var md = dnnl_memory_desc_t()
    let tag: dnnl_format_tag_t = dims.count == 4 ? dnnl_nchw : dims.count == 2 ? dnnl_ab : dnnl_a
    let dims64 = dims.map(Int64.init)
    DNNL.check(dnnl_memory_desc_init_by_tag(&md, Int32(dims.count), dims64, dnnl_f32, tag), "memory descriptor \(dims)")
    return md
}

/// A memory descriptor that lets the primitive pick its fastest layout.
func anyDescriptor(_ dims: [Int], _ type: dnnl_data_type_t = dnnl_f32) -> dnnl_memory_desc_t {
    var md = dnnl_memory_desc_t()
    let dims64 = dims.map(Int64.init)
    DNNL.check(dnnl_memory_desc_init_by_tag(&md, Int32(dims.count), dims64, type, dnnl_format_tag_any), "memory descriptor \(dims)")
    return md
}

/// A primitive together with its descriptor, destroyed with it.
final class Primitive {
    let descriptor: dnnl_primitive_desc_t
    let primitive: dnnl_primitive_t
    /// What it computes, for messages: `convolution forward (8, 64->64, 56x56, k3 s1 p1)`.
    let name: String

    init(descriptor: dnnl_primitive_desc_t, name: String) {
        var primitive: dnnl_primitive_t?
        DNNL.check(dnnl_primitive_create(&primitive, descriptor), "creating \(name)")
        guard let primitive else { preconditionFailure("oneDNN: creating \(name) returned no primitive") }
        self.descriptor = descriptor
        self.primitive = primitive
        self.name = name
    }

    /// The primitive oneDNN picks for a convolution descriptor; `pairedWith` is the forward primitive a backward
    /// one must match.
    static func plan(_ operation: inout dnnl_convolution_desc_t, pairedWith forward: dnnl_primitive_desc_t?, name: String) -> Primitive {
        var descriptor: dnnl_primitive_desc_t?
        DNNL.check(dnnl_primitive_desc_create(&descriptor, &operation, nil, DNNL.context.engine, forward), "planning \(name)")
        guard let descriptor else { preconditionFailure("oneDNN: planning \(name) returned no descriptor") }
        return Primitive(descriptor: descriptor, name: name)
    }

    deinit {
        dnnl_primitive_destroy(primitive)
        dnnl_primitive_desc_destroy(descriptor)
    }

    func memoryDescriptor(_ query: dnnl_query_t) -> dnnl_memory_desc_t {
        dnnl_primitive_desc_query_md(descriptor, query, 0).pointee
    }

    func execute(_ arguments: [(Int32, dnnl_memory_t)]) {
        let args = arguments.map { dnnl_exec_arg_t(arg: $0.0, memory: $0.1) }
        DNNL.check(dnnl_primitive_execute(primitive, DNNL.context.stream, Int32(args.count), args), "executing \(name)")
        DNNL.check(dnnl_stream_wait(DNNL.context.stream), "waiting for \(name)")
    }
}

/// A oneDNN memory object over a pointer, or over its own buffer when the primitive wants another layout.
final class Memory {
    let handle: dnnl_memory_t
    let owned: UnsafeMutableRawPointer?
    let ownedBytes: Int

    init(_ md: dnnl_memory_desc_t, pointer: UnsafeMutableRawPointer?) {
        var md = md
        var owned: UnsafeMutableRawPointer? = nil
        var pointer = pointer
        ownedBytes = max(dnnl_memory_desc_get_size(&md), 64)
        if pointer == nil {
            owned = BufferPool.allocate(bytes: ownedBytes)
            pointer = owned
        }
        var handle: dnnl_memory_t?
        DNNL.check(dnnl_memory_create(&handle, &md, DNNL.context.engine, pointer), "creating memory of \(ownedBytes) bytes")
        guard let handle else { preconditionFailure("oneDNN: creating memory returned no handle") }
        self.handle = handle
        self.owned = owned
    }

    deinit {
        dnnl_memory_destroy(handle)
        if let owned { BufferPool.release(owned, bytes: ownedBytes) }
    }
}

/// Copies between a plain layout and a primitive's chosen layout.
enum Reorder {
    static func needed(_ a: dnnl_memory_desc_t, _ b: dnnl_memory_desc_t) -> Bool {
        var a = a, b = b
        return dnnl_memory_desc_equal(&a, &b) == 0
    }

    static func run(from source: Memory, _ sourceMD: dnnl_memory_desc_t, to destination: Memory, _ destinationMD: dnnl_memory_desc_t) {
        var s = sourceMD, d = destinationMD
        var pd: dnnl_primitive_desc_t?
        DNNL.check(dnnl_reorder_primitive_desc_create(&pd, &s, DNNL.context.engine, &d, DNNL.context.engine, nil), "planning a reorder")
        guard let pd else { preconditionFailure("oneDNN: planning a reorder returned no descriptor") }
        Primitive(descriptor: pd, name: "reorder").execute([(DNNL_ARG_FROM, source.handle), (DNNL_ARG_TO, destination.handle)])
    }
}
