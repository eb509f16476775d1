import COneDNN
import Foundation

/// The layout a primitive wrote an activation in, when that is not plain NCHW (oneDNN's channel-blocked nChw8c or
/// nChw16c, as it chooses for the shapes and the CPU): training hands such activations from one primitive to the next
/// (convolution, batch normalization, pooling) without reordering them to NCHW and back around every operation.
/// One object stands for each layout (of given dimensions) for the life of the process, so tensors compare layouts by
/// identity.
public final class ActivationLayout: @unchecked Sendable {
    let descriptor: dnnl_memory_desc_t
    public let dims: [Int]

    private static let lock = NSLock()
    nonisolated(unsafe) private static var known: [[Int]: [ActivationLayout]] = [:]

    /// The layout of `descriptor`; nil when it is plain or holds padding (a tensor's storage has exactly one float per
    /// element).
    static func blocked(_ descriptor: dnnl_memory_desc_t, dims: [Int]) -> ActivationLayout? {
        var md = descriptor
        guard Reorder.needed(md, plainDescriptor(dims)), md.data_type == dnnl_f32,
              dnnl_memory_desc_get_size(&md) == dims.reduce(1, *) * 4 else { return nil }
        lock.lock(); defer { lock.unlock() }
        if let layout = known[dims]?.first(where: { $0.matches(descriptor) }) { return layout }
        let layout = ActivationLayout(descriptor, dims)
        known[dims, default: []].append(layout)
        return layout
    }

    private init(_ descriptor: dnnl_memory_desc_t, _ dims: [Int]) {
        self.descriptor = descriptor
        self.dims = dims
    }

    func matches(_ other: dnnl_memory_desc_t) -> Bool { !Reorder.needed(descriptor, other) }

    /// B when this is NCHW with channels in blocks of B innermost (oneDNN's nChw8c, nChw16c), dense: the value of
    /// (n, c, y, x) is at ((n C/B + c/B) H + y) W B + x B + c % B. nil for any other layout.
    public var channelBlock: Int? {
        guard descriptor.format_kind == dnnl_blocked, dims.count == 4 else { return nil }
        let blocking = descriptor.format_desc.blocking
        let block = Int(blocking.inner_blks.0), (c, h, w) = (dims[1], dims[2], dims[3])
        guard blocking.inner_nblks == 1, blocking.inner_idxs.0 == 1, block > 1, c % block == 0 else { return nil }
        let strides = [blocking.strides.0, blocking.strides.1, blocking.strides.2, blocking.strides.3].map(Int.init)
        return strides == [c * h * w, h * w * block, w * block, block] ? block : nil
    }

    /// The layout with channels in blocks of `block` (8 or 16) innermost for `dims`, as `channelBlock` describes.
    public static func channelBlocked(_ dims: [Int], block: Int) -> ActivationLayout? {
        let tag: dnnl_format_tag_t
        switch block {
        case 8: tag = dnnl_aBcd8b
        case 16: tag = dnnl_aBcd16b
        default: return nil
        }
        var md = dnnl_memory_desc_t()
        DNNL.check(dnnl_memory_desc_init_by_tag(&md, 4, dims.map(Int64.init), dnnl_f32, tag), "memory descriptor \(dims)")
        return blocked(md, dims: dims)
    }

    /// The same values moved between this layout and plain NCHW (`toPlain`) or back.
    public func reorder(from source: UnsafeMutablePointer<Float>, to destination: UnsafeMutablePointer<Float>, toPlain: Bool) {
        let plain = plainDescriptor(dims)
        let (fromMD, toMD) = toPlain ? (descriptor, plain) : (plain, descriptor)
        Reorder.run(from: Memory(fromMD, pointer: UnsafeMutableRawPointer(source)), fromMD,
                    to: Memory(toMD, pointer: UnsafeMutableRawPointer(destination)), toMD)
    }
}

/// The descriptor of a buffer of `dims` in `layout`, or plain NCHW when there is none.
func descriptor(_ dims: [Int], in layout: ActivationLayout?) -> dnnl_memory_desc_t {
    layout?.descriptor ?? plainDescriptor(dims)
}

/// A caller's buffer as a primitive argument: used in place when the primitive takes the buffer's layout
/// (`given`), otherwise reordered into (inputs) or out of (outputs) a buffer in the primitive's layout.
struct Operand {
    let memory: Memory
    let given: Memory?
    let givenMD: dnnl_memory_desc_t
    let wantedMD: dnnl_memory_desc_t
    let isOutput: Bool

    init(_ pointer: UnsafePointer<Float>, given: dnnl_memory_desc_t, wanted: dnnl_memory_desc_t, isOutput: Bool = false) {
        givenMD = given
        wantedMD = wanted
        self.isOutput = isOutput
        let raw = UnsafeMutableRawPointer(mutating: pointer)
        if Reorder.needed(given, wanted) {
            let buffer = Memory(given, pointer: raw)
            memory = Memory(wanted, pointer: nil)
            if !isOutput { Reorder.run(from: buffer, given, to: memory, wanted) }
            self.given = buffer
        } else {
            memory = Memory(given, pointer: raw)
            self.given = nil
        }
    }

    /// A plain NCHW (OIHW) buffer of `dims`.
    init(plain dims: [Int], pointer: UnsafePointer<Float>, wanted: dnnl_memory_desc_t, isOutput: Bool = false) {
        self.init(pointer, given: plainDescriptor(dims), wanted: wanted, isOutput: isOutput)
    }

    /// Copies an output computed in the primitive's layout back to the caller's buffer.
    func finish() {
        if let given { Reorder.run(from: memory, wantedMD, to: given, givenMD) }
    }
}

/// Runs `primitive` on the operands (plus extra arguments such as a bias or a workspace), then copies outputs
/// computed in another layout back to the callers' buffers.
func execute(_ primitive: Primitive, _ operands: [(Int32, Operand)], extra: [(Int32, Memory)] = []) {
    primitive.execute(operands.map { ($0.0, $0.1.memory.handle) } + extra.map { ($0.0, $0.1.handle) })
    for (_, operand) in operands where operand.isOutput { operand.finish() }
    withExtendedLifetime((operands, extra)) {}
}
