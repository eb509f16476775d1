import NN
import OneDNN
import Tensor

/// The ResNet-18 trunk for inference only, from a snapshot of its weights: each BatchNorm folded into the
/// convolution before it, ReLU and the residual sums fused into the convolutions, and the activations kept in
/// oneDNN's NHWC layout from the stem to the pooling, so no layer converts a layout or makes a separate pass.
/// Computes what `ResNet18Trunk` computes in evaluation mode (within float rounding); made for a model whose weights
/// no longer change (evaluation, export, inference) and per input size, since oneDNN plans per shape.
final class InferenceTrunk {
    private struct Block {
        let conv1: FusedConvolution, conv2: FusedConvolution
        let downsample: FusedConvolution?
    }

    let inputDims: [Int]
    private let stem: FusedConvolution
    private let pool: MaxPoolNHWC
    private let blocks: [Block]

    init(_ trunk: ResNet18Trunk, inputDims: [Int]) {
        self.inputDims = inputDims
        let batch = inputDims[0]
        func fused(_ conv: Conv2d, _ norm: BatchNorm2d, height: Int, width: Int, accumulate: Bool, relu: Bool) -> FusedConvolution {
            let out = conv.weight.shape[0], kernel = conv.weight.shape[2]
            let geometry = ConvolutionGeometry(batch: batch, inChannels: conv.weight.shape[1], outChannels: out, height: height, width: width,
                                               kernelHeight: kernel, kernelWidth: conv.weight.shape[3], stride: conv.stride,
                                               padding: conv.padding, hasBias: true)
            // y = gamma (conv - mean) / sqrt(var + eps) + beta: the scale goes into each output channel's weights.
            var weight = conv.weight.scalars, bias = [Float](repeating: 0, count: out)
            let perChannel = weight.count / out
            for c in 0..<out {
                let scale = norm.weight.pointer[c] / (norm.runningVar.pointer[c] + norm.eps).squareRoot()
                for i in c * perChannel..<(c + 1) * perChannel { weight[i] *= scale }
                bias[c] = norm.bias.pointer[c] - norm.runningMean.pointer[c] * scale
            }
            return FusedConvolution(geometry, weight: weight, bias: bias, accumulate: accumulate, relu: relu)
        }
        stem = fused(trunk.conv1, trunk.bn1, height: inputDims[2], width: inputDims[3], accumulate: false, relu: true)
        let stemOut = stem.geometry.outputDims
        pool = MaxPoolNHWC(inputDims: stemOut, kernel: 3, stride: 2, padding: 1)
        var (height, width) = (pool.outputDims[2], pool.outputDims[3])
        var made: [Block] = []
        for block in trunk.stages.joined() {
            let conv1 = fused(block.conv1, block.bn1, height: height, width: width, accumulate: false, relu: true)
            let downsample = block.downsample.map { fused($0.conv, $0.bn, height: height, width: width, accumulate: false, relu: false) }
            (height, width) = (conv1.geometry.outHeight, conv1.geometry.outWidth)
            let conv2 = fused(block.conv2, block.bn2, height: height, width: width, accumulate: true, relu: true)
            made.append(Block(conv1: conv1, conv2: conv2, downsample: downsample))
        }
        blocks = made
    }

    /// (N, 3, H, W) to the pooled (N, 512), as the trunk's forward in evaluation mode.
    func callAsFunction(_ x: Tensor) -> Tensor {
        precondition(x.shape == inputDims, "inference trunk planned for \(inputDims), given \(x.shape)")
        func buffer(_ dims: [Int]) -> Tensor { Tensor(uninitialized: dims) }
        let input = buffer(inputDims)
        reorderNHWC(inputDims, from: x.pointer, to: input.pointer)
        let stemOut = buffer(stem.geometry.outputDims)
        stem(input.pointer, into: stemOut.pointer)
        var h = buffer(pool.outputDims)
        pool(stemOut.pointer, into: h.pointer)
        for block in blocks {
            let middle = buffer(block.conv1.geometry.outputDims)
            block.conv1(h.pointer, into: middle.pointer)
            // The residual goes into the output buffer first; conv2 adds itself to it, then the ReLU.
            let out = buffer(block.conv2.geometry.outputDims)
            if let downsample = block.downsample {
                downsample(h.pointer, into: out.pointer)
            } else {
                out.pointer.update(from: h.pointer, count: h.count)
            }
            block.conv2(middle.pointer, into: out.pointer)
            h = out
        }
        // Global average pooling over NHWC: each image's H x W rows of C channels.
        let (n, c, spatial) = (h.shape[0], h.shape[1], h.shape[2] * h.shape[3])
        let pooled = Tensor(zeros: [n, c])
        let scale = 1 / Float(spatial)
        for image in 0..<n {
            let row = pooled.pointer + image * c, source = h.pointer + image * spatial * c
            for position in 0..<spatial {
                let pixel = source + position * c
                for channel in 0..<c { row[channel] += pixel[channel] }
            }
            for channel in 0..<c { row[channel] *= scale }
        }
        return pooled
    }
}
