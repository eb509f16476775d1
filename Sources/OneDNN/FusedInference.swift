import BufferPool
import COneDNN
import Foundation

/// A memory descriptor in NHWC, the layout a chain of inference primitives keeps between them.
func nhwcDescriptor(_ dims: [Int], _ type: dnnl_data_type_t = dnnl_f32) -> dnnl_memory_desc_t {
    var md = dnnl_memory_desc_t()
    DNNL.check(dnnl_memory_desc_init_by_tag(&md, 4, dims.map(Int64.init), type, dnnl_nhwc), "memory descriptor \(dims)")
    return md
}

extension Primitive {
    /// The primitive oneDNN picks for any operation descriptor, with attributes (post-ops) when given; `pairedWith`
    /// is the forward primitive a backward one must match.
    static func plan(_ operation: UnsafeRawPointer, attributes: dnnl_primitive_attr_t?, pairedWith forward: dnnl_primitive_desc_t? = nil,
                     name: String) -> Primitive {
        var descriptor: dnnl_primitive_desc_t?
        DNNL.check(dnnl_primitive_desc_create(&descriptor, operation, attributes, DNNL.context.engine, forward), "planning \(name)")
        guard let descriptor else { preconditionFailure("oneDNN: planning \(name) returned no descriptor") }
        return Primitive(descriptor: descriptor, name: name)
    }
}

/// An inference-only convolution over NHWC buffers whose weights (a BatchNorm already folded in by the caller) are
/// reordered once into the layout the primitive wants, with a residual sum and a ReLU fused after it: a network's
/// layers chain without a layout change or a separate pass between them. The weights are a snapshot: a trained
/// model makes new ones.
public final class FusedConvolution {
    public let geometry: ConvolutionGeometry
    public let precision: Precision
    private let planned: PlannedConvolution

    /// `weight` in OIHW as PyTorch keeps it, `bias` per output channel; `accumulate` adds the convolution to what the
    /// output buffer holds (a residual), `relu` then clamps at zero. In bf16 the source and the weights are rounded to
    /// bf16 and the output stays fp32.
    public init(_ geometry: ConvolutionGeometry, weight: [Float], bias: [Float], accumulate: Bool, relu: Bool, precision: Precision = .fp32) {
        precondition(weight.count == geometry.weightDims.reduce(1, *) && bias.count == geometry.outChannels, "fused convolution: weights do not fit \(geometry)")
        self.geometry = geometry
        self.precision = precision
        let operand = precision.operandType
        planned = PlannedConvolution(geometry, types: (operand, operand, dnnl_f32, dnnl_f32), weights: weight, bias: bias, name: "fused convolution") { _, postOps in
            if accumulate { DNNL.check(dnnl_post_ops_append_sum(postOps, 1), "a sum post-op") }
            if relu { DNNL.check(dnnl_post_ops_append_eltwise(postOps, 1, dnnl_eltwise_relu, 0, 0), "a ReLU post-op") }
        }
    }

    /// Runs on NHWC `source` (`inputDims`) into NHWC `destination` (`outputDims`).
    public func callAsFunction(_ source: UnsafeMutablePointer<Float>, into destination: UnsafeMutablePointer<Float>) {
        guard precision == .bf16 else { return planned.run(source, destination) }
        let count = geometry.inputDims.reduce(1, *), bytes = count * 2
        let raw = BufferPool.allocate(bytes: bytes), rounded = raw.assumingMemoryBound(to: UInt16.self)
        defer { BufferPool.release(raw, bytes: bytes) }
        DNNL.convertToBF16(source, rounded, count: count)
        planned.run(rounded, destination)
    }
}

/// A convolution planned for inference over NHWC buffers, of floats or of integer codes: the primitive oneDNN picks for
/// the data types, with attributes and post-ops set by the caller, the weights (OIHW) reordered once into the layout it
/// wants and the bias copied beside them.
final class PlannedConvolution {
    private let primitive: Primitive
    private let weights: Memory
    private let bias: Memory
    private let input: dnnl_memory_desc_t, output: dnnl_memory_desc_t

    /// `types`: of the source, the weights, the bias and the destination; `configure` sets attributes and appends post-ops.
    init<Weight, Bias>(_ geometry: ConvolutionGeometry, types: (dnnl_data_type_t, dnnl_data_type_t, dnnl_data_type_t, dnnl_data_type_t),
                       weights weightValues: [Weight], bias biasValues: [Bias], name: String,
                       configure: (dnnl_primitive_attr_t?, dnnl_post_ops_t?) -> Void) {
        func descriptor(_ dims: [Int], _ type: dnnl_data_type_t, _ tag: dnnl_format_tag_t) -> dnnl_memory_desc_t {
            var md = dnnl_memory_desc_t()
            DNNL.check(dnnl_memory_desc_init_by_tag(&md, Int32(dims.count), dims.map(Int64.init), type, tag), "\(name) \(geometry): memory descriptor \(dims)")
            return md
        }
        input = nhwcDescriptor(geometry.inputDims, types.0)
        output = nhwcDescriptor(geometry.outputDims, types.3)
        var src = input, dst = output, wanted = descriptor(geometry.weightDims, types.1, dnnl_format_tag_any)
        var biasMD = descriptor([geometry.outChannels], types.2, dnnl_a)
        var desc = dnnl_convolution_desc_t()
        DNNL.check(dnnl_convolution_forward_desc_init(&desc, dnnl_forward_inference, dnnl_convolution_direct, &src, &wanted, &biasMD, &dst,
                                                      geometry.strides, geometry.paddings, geometry.paddings), "\(name) \(geometry)")
        var attributes: dnnl_primitive_attr_t?, postOps: dnnl_post_ops_t?
        DNNL.check(dnnl_primitive_attr_create(&attributes), "primitive attributes")
        DNNL.check(dnnl_post_ops_create(&postOps), "post-ops")
        configure(attributes, postOps)
        DNNL.check(dnnl_primitive_attr_set_post_ops(attributes, postOps), "setting post-ops")
        primitive = withUnsafePointer(to: &desc) { Primitive.plan(UnsafeRawPointer($0), attributes: attributes, name: "\(name) \(geometry)") }
        dnnl_post_ops_destroy(postOps)
        dnnl_primitive_attr_destroy(attributes)
        // Float weights are given in fp32 whatever the operand type: the reorder rounds them.
        let given = Weight.self == Float.self ? dnnl_f32 : types.1
        let chosen = primitive.memoryDescriptor(dnnl_query_weights_md), plain = descriptor(geometry.weightDims, given, dnnl_oihw)
        let reordered = Memory(chosen, pointer: nil)
        weightValues.withUnsafeBytes { values in
            Reorder.run(from: Memory(plain, pointer: UnsafeMutableRawPointer(mutating: values.baseAddress!)), plain, to: reordered, chosen)
        }
        weights = reordered
        let biasMemory = Memory(biasMD, pointer: nil)
        biasValues.withUnsafeBytes { biasMemory.owned!.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        bias = biasMemory
    }

    func run<Source, Destination>(_ source: UnsafeMutablePointer<Source>, _ destination: UnsafeMutablePointer<Destination>) {
        let src = Memory(input, pointer: UnsafeMutableRawPointer(source)), dst = Memory(output, pointer: UnsafeMutableRawPointer(destination))
        primitive.execute([(DNNL_ARG_SRC, src.handle), (DNNL_ARG_WEIGHTS, weights.handle), (DNNL_ARG_BIAS, bias.handle), (DNNL_ARG_DST, dst.handle)])
        withExtendedLifetime((src, dst)) {}
    }
}

/// Max pooling over NHWC buffers for inference (square window, symmetric padding that never wins), of floats or of
/// uint8 codes (`codes`), which pool as the values they stand for since quantization keeps order. `ceilMode` is
/// PyTorch's: a last window that overhangs the bottom or right edge is kept, pooling what it covers.
public final class MaxPoolNHWC {
    private let primitive: Primitive
    private let input: dnnl_memory_desc_t, output: dnnl_memory_desc_t
    public let outputDims: [Int]
    private let codes: Bool

    public init(inputDims: [Int], kernel: Int, stride: Int, padding: Int, codes: Bool = false, ceilMode: Bool = false) {
        self.codes = codes
        let (h, w) = (inputDims[2], inputDims[3])
        func count(_ size: Int) -> Int {
            guard ceilMode else { return (size + 2 * padding - kernel) / stride + 1 }
            // As PyTorch: rounded up, less a last window that would start in the padding.
            let windows = (size + 2 * padding - kernel + stride - 1) / stride + 1
            return (windows - 1) * stride >= size + padding ? windows - 1 : windows
        }
        outputDims = [inputDims[0], inputDims[1], count(h), count(w)]
        // In ceil mode, the padding after the last row (column) that makes oneDNN's window count the one chosen above.
        let after = { (size: Int, out: Int) in Int64((out - 1) * stride + kernel - size - padding) }
        input = nhwcDescriptor(inputDims, codes ? dnnl_u8 : dnnl_f32)
        output = nhwcDescriptor(outputDims, codes ? dnnl_u8 : dnnl_f32)
        var src = input, dst = output
        var desc = dnnl_pooling_desc_t()
        let pair = { (v: Int) in [Int64(v), Int64(v)] }
        DNNL.check(dnnl_pooling_forward_desc_init(&desc, dnnl_forward_inference, dnnl_pooling_max, &src, &dst, pair(stride), pair(kernel),
                                                  pair(padding), ceilMode ? [after(h, outputDims[2]), after(w, outputDims[3])] : pair(padding)), "max pooling \(inputDims)")
        primitive = withUnsafePointer(to: &desc) { Primitive.plan(UnsafeRawPointer($0), attributes: nil, name: "max pooling \(inputDims)") }
    }

    /// `source` and `destination` hold floats or, for a pool of codes, bytes.
    public func callAsFunction<Element>(_ source: UnsafeMutablePointer<Element>, into destination: UnsafeMutablePointer<Element>) {
        precondition(MemoryLayout<Element>.size == (codes ? 1 : 4), "max pooling planned for \(codes ? "codes" : "floats")")
        let src = Memory(input, pointer: UnsafeMutableRawPointer(source)), dst = Memory(output, pointer: UnsafeMutableRawPointer(destination))
        primitive.execute([(DNNL_ARG_SRC, src.handle), (DNNL_ARG_DST, dst.handle)])
        withExtendedLifetime((src, dst)) {}
    }
}

/// NCHW to NHWC (or back, with `toNCHW`) for a batch of `dims` (N, C, H, W).
public func reorderNHWC(_ dims: [Int], from source: UnsafeMutablePointer<Float>, to destination: UnsafeMutablePointer<Float>, toNCHW: Bool = false) {
    let plain = plainDescriptor(dims), nhwc = nhwcDescriptor(dims)
    let (fromMD, toMD) = toNCHW ? (nhwc, plain) : (plain, nhwc)
    Reorder.run(from: Memory(fromMD, pointer: UnsafeMutableRawPointer(source)), fromMD, to: Memory(toMD, pointer: UnsafeMutableRawPointer(destination)), toMD)
}
