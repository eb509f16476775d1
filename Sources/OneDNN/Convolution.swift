import COneDNN
import Foundation

/// The shape of a 2-D convolution over NCHW float32 data with OIHW weights, as PyTorch's `Conv2d` has it.
public struct ConvolutionGeometry: Hashable, Sendable {
    public var batch: Int, inChannels: Int, outChannels: Int
    public var height: Int, width: Int
    public var kernelHeight: Int, kernelWidth: Int
    public var stride: Int, padding: Int
    public var hasBias: Bool

    public init(batch: Int, inChannels: Int, outChannels: Int, height: Int, width: Int,
                kernelHeight: Int, kernelWidth: Int, stride: Int, padding: Int, hasBias: Bool) {
        self.batch = batch; self.inChannels = inChannels; self.outChannels = outChannels
        self.height = height; self.width = width
        self.kernelHeight = kernelHeight; self.kernelWidth = kernelWidth
        self.stride = stride; self.padding = padding; self.hasBias = hasBias
    }

    public var outHeight: Int { (height + 2 * padding - kernelHeight) / stride + 1 }
    public var outWidth: Int { (width + 2 * padding - kernelWidth) / stride + 1 }
    public var inputDims: [Int] { [batch, inChannels, height, width] }
    public var weightDims: [Int] { [outChannels, inChannels, kernelHeight, kernelWidth] }
    public var outputDims: [Int] { [batch, outChannels, outHeight, outWidth] }
    var strides: [Int64] { [Int64(stride), Int64(stride)] }
    var paddings: [Int64] { [Int64(padding), Int64(padding)] }
    /// Multiply-adds times two, for one forward pass.
    public var flops: Double {
        2 * Double(batch * outChannels * outHeight * outWidth) * Double(inChannels * kernelHeight * kernelWidth)
    }
}

/// oneDNN's convolution primitives for one geometry and precision: forward, gradient of the input, gradient of the
/// weights (and bias). Plans are made once per geometry and reused; data stays in the caller's plain NCHW fp32
/// buffers, and is reordered to and from the layout (and, in bf16, the operand type) oneDNN prefers where that differs.
/// Results are fp32 in either precision.
public final class Convolution {
    public let geometry: ConvolutionGeometry
    public let precision: Precision
    private let forwardPrimitive: Primitive
    /// The forward pass when no gradient will follow: oneDNN may choose other kernels for it.
    private lazy var inferencePrimitive: Primitive = makeForward(dnnl_forward_inference)
    private lazy var backwardDataPrimitive: Primitive = makeBackwardData()
    private lazy var backwardWeightsPrimitive: Primitive = makeBackwardWeights()

    private static let lock = NSLock()
    nonisolated(unsafe) private static var plans: [Key: Convolution] = [:]

    private struct Key: Hashable {
        let geometry: ConvolutionGeometry
        let precision: Precision
    }

    /// The plan for a geometry in a precision, made on first use.
    public static func plan(_ geometry: ConvolutionGeometry, precision: Precision = .fp32) -> Convolution {
        lock.lock(); defer { lock.unlock() }
        let key = Key(geometry: geometry, precision: precision)
        if let plan = plans[key] { return plan }
        let plan = Convolution(geometry, precision)
        plans[key] = plan
        return plan
    }

    private init(_ geometry: ConvolutionGeometry, _ precision: Precision) {
        self.geometry = geometry
        self.precision = precision
        forwardPrimitive = Convolution.makeForward(geometry, precision, dnnl_forward_training)
    }

    private func makeForward(_ kind: dnnl_prop_kind_t) -> Primitive { Convolution.makeForward(geometry, precision, kind) }

    private static func makeForward(_ geometry: ConvolutionGeometry, _ precision: Precision, _ kind: dnnl_prop_kind_t) -> Primitive {
        let operand = precision.operandType
        var src = anyDescriptor(geometry.inputDims, operand), weights = anyDescriptor(geometry.weightDims, operand)
        let bias = plainDescriptor([geometry.outChannels])
        var dst = anyDescriptor(geometry.outputDims)
        var desc = dnnl_convolution_desc_t()
        withUnsafePointer(to: bias) { bias in
            DNNL.check(dnnl_convolution_forward_desc_init(&desc, kind, dnnl_convolution_direct,
                                                          &src, &weights, geometry.hasBias ? bias : nil, &dst,
                                                          geometry.strides, geometry.paddings, geometry.paddings),
                       "convolution forward \(geometry)")
        }
        return Primitive.plan(&desc, pairedWith: nil, name: "convolution forward \(geometry)")
    }

    private func makeBackwardData() -> Primitive {
        let operand = precision.operandType
        var diffSrc = anyDescriptor(geometry.inputDims), weights = anyDescriptor(geometry.weightDims, operand)
        var diffDst = anyDescriptor(geometry.outputDims, operand)
        var desc = dnnl_convolution_desc_t()
        DNNL.check(dnnl_convolution_backward_data_desc_init(&desc, dnnl_convolution_direct, &diffSrc, &weights, &diffDst,
                                                            geometry.strides, geometry.paddings, geometry.paddings),
                   "convolution backward data \(geometry)")
        return Primitive.plan(&desc, pairedWith: forwardPrimitive.descriptor, name: "convolution backward data \(geometry)")
    }

    private func makeBackwardWeights() -> Primitive {
        let operand = precision.operandType
        var src = anyDescriptor(geometry.inputDims, operand), diffWeights = anyDescriptor(geometry.weightDims)
        let diffBias = plainDescriptor([geometry.outChannels])
        var diffDst = anyDescriptor(geometry.outputDims, operand)
        var desc = dnnl_convolution_desc_t()
        withUnsafePointer(to: diffBias) { diffBias in
            DNNL.check(dnnl_convolution_backward_weights_desc_init(&desc, dnnl_convolution_direct, &src, &diffWeights,
                                                                   geometry.hasBias ? diffBias : nil, &diffDst,
                                                                   geometry.strides, geometry.paddings, geometry.paddings),
                       "convolution backward weights \(geometry)")
        }
        return Primitive.plan(&desc, pairedWith: forwardPrimitive.descriptor, name: "convolution backward weights \(geometry)")
    }

    /// The blocked layout the training forward writes its output in, if it computes in one.
    private lazy var trainingOutputLayout = ActivationLayout.blocked(forwardPrimitive.memoryDescriptor(dnnl_query_dst_md), dims: geometry.outputDims)

    /// `output = conv(input, weight) + bias` with `input` in `inputLayout` (nil: plain NCHW); `inference` when no
    /// backward pass will follow. With `keepLayout` the output stays in the blocked layout the primitive computes in,
    /// which is returned; otherwise (or when it computes in NCHW) the output is NCHW and the result nil.
    @discardableResult
    package func forward(input: UnsafePointer<Float>, inputLayout: ActivationLayout? = nil, weight: UnsafePointer<Float>,
                         bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>, inference: Bool = false,
                         keepLayout: Bool = false) -> ActivationLayout? {
        let p = inference ? inferencePrimitive : forwardPrimitive
        let outputLayout = keepLayout && !inference ? trainingOutputLayout : nil
        run(p, [(DNNL_ARG_SRC, Operand(input, given: descriptor(geometry.inputDims, in: inputLayout), wanted: p.memoryDescriptor(dnnl_query_src_md))),
                (DNNL_ARG_WEIGHTS, Operand(plain: geometry.weightDims, pointer: weight, wanted: p.memoryDescriptor(dnnl_query_weights_md))),
                (DNNL_ARG_DST, Operand(output, given: descriptor(geometry.outputDims, in: outputLayout), wanted: p.memoryDescriptor(dnnl_query_dst_md), isOutput: true))],
            bias: bias.map { (DNNL_ARG_BIAS, UnsafeMutableRawPointer(mutating: $0)) })
        return outputLayout
    }

    /// `gradInput = d(sum(output * gradOutput)) / d input` (overwritten), each in its layout (nil: NCHW).
    package func backwardData(gradOutput: UnsafePointer<Float>, gradOutputLayout: ActivationLayout? = nil, weight: UnsafePointer<Float>,
                              gradInput: UnsafeMutablePointer<Float>, gradInputLayout: ActivationLayout? = nil) {
        let p = backwardDataPrimitive
        run(p, [(DNNL_ARG_DIFF_DST, Operand(gradOutput, given: descriptor(geometry.outputDims, in: gradOutputLayout), wanted: p.memoryDescriptor(dnnl_query_diff_dst_md))),
                (DNNL_ARG_WEIGHTS, Operand(plain: geometry.weightDims, pointer: weight, wanted: p.memoryDescriptor(dnnl_query_weights_md))),
                (DNNL_ARG_DIFF_SRC, Operand(gradInput, given: descriptor(geometry.inputDims, in: gradInputLayout), wanted: p.memoryDescriptor(dnnl_query_diff_src_md), isOutput: true))],
            bias: nil)
    }

    /// `gradWeight` (and `gradBias`) of `sum(output * gradOutput)` (overwritten, OIHW), the activations in their layouts.
    package func backwardWeights(input: UnsafePointer<Float>, inputLayout: ActivationLayout? = nil,
                                 gradOutput: UnsafePointer<Float>, gradOutputLayout: ActivationLayout? = nil,
                                 gradWeight: UnsafeMutablePointer<Float>, gradBias: UnsafeMutablePointer<Float>?) {
        let p = backwardWeightsPrimitive
        run(p, [(DNNL_ARG_SRC, Operand(input, given: descriptor(geometry.inputDims, in: inputLayout), wanted: p.memoryDescriptor(dnnl_query_src_md))),
                (DNNL_ARG_DIFF_DST, Operand(gradOutput, given: descriptor(geometry.outputDims, in: gradOutputLayout), wanted: p.memoryDescriptor(dnnl_query_diff_dst_md))),
                (DNNL_ARG_DIFF_WEIGHTS, Operand(plain: geometry.weightDims, pointer: gradWeight, wanted: p.memoryDescriptor(dnnl_query_diff_weights_md), isOutput: true))],
            bias: gradBias.map { (DNNL_ARG_DIFF_BIAS, UnsafeMutableRawPointer($0)) })
    }

    /// Executes with the operands and the bias (plain) where the geometry has one.
    private func run(_ primitive: Primitive, _ operands: [(Int32, Operand)], bias: (Int32, UnsafeMutableRawPointer)?) {
        var extra: [(Int32, Memory)] = []
        if let bias, geometry.hasBias { extra.append((bias.0, Memory(plainDescriptor([geometry.outChannels]), pointer: bias.1))) }
        execute(primitive, operands, extra: extra)
    }
}
