import BufferPool
import NN
import OneDNN
import Tensor

/// One folded convolution in int8: per-output-channel symmetric weight codes, and the bias in the units of the
/// integer accumulator (`round(bias / (scale_in * scale_w[c]))`), as ONNX's QLinearConv wants it. The ONNX writer and
/// the engine's int8 trunk both take their numbers from here.
public struct QuantizedLayer: Sendable {
    public let weights: Int8Quantization
    public let bias: [Int32]
    public let inputScale: Float

    public init(_ layer: FoldedTrunk.Layer, input: ActivationQuantization) {
        weights = Int8Quantization(layer.weight, channels: layer.outChannels)
        inputScale = input.scale
        bias = zip(layer.bias, weights.scales).map { bias, scale in
            Int32(max(-2_147_483_647, min(2_147_483_647, (Double(bias) / (Double(input.scale) * Double(scale))).rounded(.toNearestOrEven))))
        }
    }

    /// What one unit of channel c's accumulator is worth, divided by `outputScale`.
    public func scales(outputScale: Float = 1) -> [Float] { weights.scales.map { inputScale * $0 / outputScale } }
}

/// The face trunk in int8 on oneDNN, with the activation scales of a calibration: what `model_int8.onnx` computes,
/// step for step, run by the engine. Every convolution takes uint8 codes and int8 weights (the stem's codes of the
/// signed image with a zero point) and writes the codes of its output; the max pool works on codes, and each residual
/// sum adds two tensors of codes into the block's output codes, as onnxruntime's QLinearAdd does.
final class QuantizedTrunk: TrunkPlan {
    private struct Block {
        let conv1: QuantizedConvolution, conv2: QuantizedConvolution
        let downsample: QuantizedConvolution?
        /// How the block's input, conv2's output, the shortcut and the block's output are coded.
        let input: ActivationQuantization, branch: ActivationQuantization, shortcut: ActivationQuantization, output: ActivationQuantization
    }

    let inputDims: [Int]
    private let inputQuantization: ActivationQuantization
    private let stem: QuantizedConvolution
    private let pool: MaxPoolNHWC
    private let blocks: [Block]

    init(_ folded: FoldedTrunk, calibration: TrunkCalibration, inputDims: [Int]) {
        self.inputDims = inputDims
        let batch = inputDims[0]
        inputQuantization = calibration[.input]
        func conv(_ layer: FoldedTrunk.Layer, _ input: ActivationQuantization, _ output: ActivationQuantization, height: Int, width: Int,
                  relu: Bool) -> QuantizedConvolution {
            let q = QuantizedLayer(layer, input: input)
            return QuantizedConvolution(layer.geometry(batch: batch, height: height, width: width), codes: q.weights.codes, bias: q.bias,
                                        scales: q.scales(outputScale: output.scale), relu: relu, sourceZeroPoint: input.zeroPoint,
                                        destinationZeroPoint: output.zeroPoint)
        }
        stem = conv(folded.stem, inputQuantization, calibration[.stem], height: inputDims[2], width: inputDims[3], relu: true)
        pool = MaxPoolNHWC(inputDims: stem.geometry.outputDims, kernel: 3, stride: 2, padding: 1, codes: true)
        var (height, width) = (pool.outputDims[2], pool.outputDims[3])
        var input = calibration[.stem]
        var made: [Block] = []
        for (index, block) in folded.blocks.enumerated() {
            let middle = calibration[.conv1(index)], branch = calibration[.conv2(index)], output = calibration[.output(index)]
            let shortcut = block.downsample == nil ? input : calibration[.downsample(index)]
            let conv1 = conv(block.conv1, input, middle, height: height, width: width, relu: true)
            let downsample = block.downsample.map { conv($0, input, shortcut, height: height, width: width, relu: false) }
            (height, width) = (conv1.geometry.outHeight, conv1.geometry.outWidth)
            let conv2 = conv(block.conv2, middle, branch, height: height, width: width, relu: false)
            made.append(Block(conv1: conv1, conv2: conv2, downsample: downsample, input: input, branch: branch, shortcut: shortcut, output: output))
            input = output
        }
        blocks = made
    }

    /// (N, 3, H, W) to the pooled (N, 512).
    func callAsFunction(_ x: Tensor) -> Tensor {
        precondition(x.shape == inputDims, "int8 trunk planned for \(inputDims), given \(x.shape)")
        let image = Tensor(uninitialized: inputDims)
        reorderNHWC(inputDims, from: x.pointer, to: image.pointer)
        let codes = Bytes(image.count)
        Quantize.codes(image.pointer, into: codes.pointer, count: image.count, scale: inputQuantization.scale, zeroPoint: inputQuantization.zeroPoint)
        let stemCodes = Bytes(stem.geometry.outputDims.reduce(1, *))
        stem(codes.pointer, into: stemCodes.pointer)
        var h = Bytes(pool.outputDims.reduce(1, *))
        pool(stemCodes.pointer, into: h.pointer)
        var dims = pool.outputDims
        for block in blocks {
            let middle = Bytes(block.conv1.geometry.outputDims.reduce(1, *))
            block.conv1(h.pointer, into: middle.pointer)
            dims = block.conv2.geometry.outputDims
            let branch = Bytes(dims.reduce(1, *))
            block.conv2(middle.pointer, into: branch.pointer)
            var shortcut = h
            if let downsample = block.downsample {
                shortcut = Bytes(branch.count)
                downsample(h.pointer, into: shortcut.pointer)
            }
            let out = Bytes(branch.count)
            Quantize.add(branch.pointer, block.branch.scale, block.branch.zeroPoint, shortcut.pointer, block.shortcut.scale, block.shortcut.zeroPoint,
                         into: out.pointer, block.output.scale, block.output.zeroPoint, count: out.count)
            h = out
        }
        let last = Tensor(uninitialized: dims)
        Quantize.values(h.pointer, into: last.pointer, count: last.count, scale: blocks.last!.output.scale, zeroPoint: blocks.last!.output.zeroPoint)
        return globalAveragePool(nhwc: last)
    }
}

/// A buffer of uint8 codes from the buffer pool, given back with it: a forward pass asks for the same sizes every time.
private final class Bytes {
    let pointer: UnsafeMutablePointer<UInt8>
    let count: Int

    init(_ count: Int) {
        self.count = count
        pointer = BufferPool.allocate(bytes: max(count, 1)).bindMemory(to: UInt8.self, capacity: max(count, 1))
    }

    deinit { BufferPool.release(UnsafeMutableRawPointer(pointer), bytes: max(count, 1)) }
}
