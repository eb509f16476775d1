import NN
import OneDNN

/// The ResNet-18 trunk as inference sees it: each BatchNorm folded into the convolution before it (a weight and a bias
/// per convolution), in the order the layers run. The one place the fold is computed, so the fused float trunk, the
/// int8 trunk and the int8 ONNX graph stand for the same network.
public struct FoldedTrunk: Sendable {
    /// One convolution with its BatchNorm folded in: `y = conv(x, weight) + bias`.
    public struct Layer: Sendable {
        /// The PyTorch name of the convolution (`visual.backbone.layer2.0.downsample.0` without the model's prefix).
        public let name: String
        public let inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int
        /// OIHW.
        public let weight: [Float]
        public let bias: [Float]

        init(_ name: String, _ conv: Conv2d, _ norm: BatchNorm2d) {
            let out = conv.weight.shape[0]
            var weight = conv.weight.scalars, bias = [Float](repeating: 0, count: out)
            let perChannel = weight.count / out
            // y = gamma (conv - mean) / sqrt(var + eps) + beta: the scale goes into each output channel's weights.
            for c in 0..<out {
                let scale = norm.weight.pointer[c] / (norm.runningVar.pointer[c] + norm.eps).squareRoot()
                for i in c * perChannel..<(c + 1) * perChannel { weight[i] *= scale }
                bias[c] = norm.bias.pointer[c] - norm.runningMean.pointer[c] * scale
            }
            self.name = name
            (inChannels, outChannels, kernel, stride, padding) = (conv.weight.shape[1], out, conv.weight.shape[2], conv.stride, conv.padding)
            self.weight = weight
            self.bias = bias
        }

        /// The convolution's shape on a batch of `height` x `width` inputs.
        public func geometry(batch: Int, height: Int, width: Int) -> ConvolutionGeometry {
            ConvolutionGeometry(batch: batch, inChannels: inChannels, outChannels: outChannels, height: height, width: width,
                                kernelHeight: kernel, kernelWidth: kernel, stride: stride, padding: padding, hasBias: true)
        }
    }

    /// A basic block: `relu(conv2(relu(conv1(x))) + shortcut(x))`, the shortcut `downsample(x)` or `x`.
    public struct Block: Sendable {
        public let conv1: Layer, conv2: Layer
        public let downsample: Layer?
    }

    /// conv1 and bn1, then ReLU and a 3x3 max pool of stride 2.
    public let stem: Layer
    public let blocks: [Block]

    public init(_ trunk: ResNet18Trunk) {
        stem = Layer("conv1", trunk.conv1, trunk.bn1)
        blocks = trunk.stages.enumerated().flatMap { stage, blocks in
            blocks.enumerated().map { index, block in
                let prefix = "layer\(stage + 1).\(index)."
                return Block(conv1: Layer(prefix + "conv1", block.conv1, block.bn1), conv2: Layer(prefix + "conv2", block.conv2, block.bn2),
                             downsample: block.downsample.map { Layer(prefix + "downsample.0", $0.conv, $0.bn) })
            }
        }
    }
}
