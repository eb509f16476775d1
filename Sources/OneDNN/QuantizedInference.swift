import COneDNN
import Foundation

/// An int8 convolution over NHWC buffers for inference, as onnxruntime's QLinearConv computes it: uint8 codes in
/// (`x = scale_in * (code - zero point)`), int8 weight codes with one scale per output channel, an int32 bias in the
/// accumulator's units, and uint8 codes of the output out (`round(scale * (accumulator + bias)) + zero point`,
/// saturating), a ReLU fused where asked. The integer products are the CPU's VNNI (or AMX) instructions where it has
/// them: the point of running a model in int8.
public final class QuantizedConvolution {
    public let geometry: ConvolutionGeometry
    private let planned: PlannedConvolution

    /// `codes` int8 in OIHW, `bias` int32 per output channel, `scales[c]` what one unit of channel c's accumulator is
    /// worth in output codes (`scale_in * scale_w[c] / scale_out`); the zero points those of the input and output codes.
    public init(_ geometry: ConvolutionGeometry, codes: [Int8], bias: [Int32], scales: [Float], relu: Bool, sourceZeroPoint: UInt8, destinationZeroPoint: UInt8) {
        precondition(codes.count == geometry.weightDims.reduce(1, *) && bias.count == geometry.outChannels && scales.count == geometry.outChannels,
                     "int8 convolution: weights do not fit \(geometry)")
        self.geometry = geometry
        planned = PlannedConvolution(geometry, types: (dnnl_u8, dnnl_s8, dnnl_s32, dnnl_u8), weights: codes, bias: bias, name: "int8 convolution") { attributes, postOps in
            // oneDNN 2's int8 convolution: dst = scales[c] * (accumulator + bias[c]), the post-ops, then the zero point.
            DNNL.check(dnnl_primitive_attr_set_output_scales(attributes, Int64(scales.count), 1 << 1, scales), "output scales")
            for (argument, zeroPoint) in [(DNNL_ARG_SRC, sourceZeroPoint), (DNNL_ARG_DST, destinationZeroPoint)] where zeroPoint != 0 {
                DNNL.check(dnnl_primitive_attr_set_zero_points(attributes, argument, 1, 0, [Int32(zeroPoint)]), "a zero point")
            }
            if relu { DNNL.check(dnnl_post_ops_append_eltwise(postOps, 1, dnnl_eltwise_relu, 0, 0), "a ReLU post-op") }
        }
    }

    /// Runs on NHWC codes `source` into NHWC codes `destination`.
    public func callAsFunction(_ source: UnsafeMutablePointer<UInt8>, into destination: UnsafeMutablePointer<UInt8>) {
        planned.run(source, destination)
    }
}

/// Between floats and uint8 codes (`x = scale * (code - zeroPoint)`), rounding half to even and saturating as ONNX's
/// QuantizeLinear does, and the sum of two tensors of codes as onnxruntime's QLinearAdd computes it.
public enum Quantize {
    /// Codes of `count` floats.
    public static func codes(_ source: UnsafePointer<Float>, into destination: UnsafeMutablePointer<UInt8>, count: Int, scale: Float, zeroPoint: UInt8) {
        let zero = Float(zeroPoint)
        // Clamped first, then rounded half to even by adding and taking away 1.5 * 2^23 (exact for values below 2^22):
        // a loop the compiler vectorises, where a call to rint per value would not.
        let magic: Float = 12_582_912
        inParts(count) { range in
            for i in range {
                let clamped = min(255, max(0, source[i] / scale + zero))
                destination[i] = UInt8((clamped + magic) - magic)
            }
        }
    }

    /// The values `count` codes stand for.
    public static func values(_ source: UnsafePointer<UInt8>, into destination: UnsafeMutablePointer<Float>, count: Int, scale: Float, zeroPoint: UInt8) {
        let zero = Int32(zeroPoint)
        for i in 0..<count { destination[i] = Float(Int32(source[i]) - zero) * scale }
    }

    /// `c = round(a_scale / c_scale * (a - a_zero) + b_scale / c_scale * (b - b_zero)) + c_zero`, saturating: the sum of
    /// two tensors of codes into a third's (a ReLU after it is the zero point 0 of `c`).
    public static func add(_ a: UnsafePointer<UInt8>, _ aScale: Float, _ aZero: UInt8, _ b: UnsafePointer<UInt8>, _ bScale: Float, _ bZero: UInt8,
                           into c: UnsafeMutablePointer<UInt8>, _ cScale: Float, _ cZero: UInt8, count: Int) {
        let ra = aScale / cScale, rb = bScale / cScale, za = Float(aZero), zb = Float(bZero), zc = Float(cZero)
        let magic: Float = 12_582_912
        inParts(count) { range in
            for i in range {
                let value = ra * (Float(a[i]) - za) + rb * (Float(b[i]) - zb) + zc
                c[i] = UInt8((min(255, max(0, value)) + magic) - magic)
            }
        }
    }

    /// `body` over `0 ..< count` in one part per engine thread, on the engine's threads, for counts worth splitting.
    private static func inParts(_ count: Int, _ body: (Range<Int>) -> Void) {
        let parts = count < 1 << 16 ? 1 : DNNL.threads
        guard parts > 1 else { return body(0..<count) }
        DNNL.parallelFor(parts) { part in body(count * part / parts..<count * (part + 1) / parts) }
    }
}
