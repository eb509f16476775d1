import NN
import OneDNN
import Tensor

/// The ResNet-18 trunk for inference only, from a snapshot of its weights (`FoldedTrunk`): ReLU and the residual
/// sums fused into the convolutions, and the activations kept in oneDNN's NHWC layout from the stem to the pooling,
/// so no layer converts a layout or makes a separate pass. Computes what `ResNet18Trunk` computes in evaluation mode
/// (within float rounding); made for a model whose weights no longer change (evaluation, export, inference) and per
/// input size, since oneDNN plans per shape.
final class InferenceTrunk: TrunkPlan {
    private struct Block {
        let conv1: FusedConvolution, conv2: FusedConvolution
        let downsample: FusedConvolution?
    }

    let inputDims: [Int]
    private let stem: FusedConvolution
    private let pool: MaxPoolNHWC
    private let blocks: [Block]
    /// For a plan made to be observed: each block's conv2 without the residual and the ReLU, since calibration looks at
    /// the sum's operands.
    private let unfused: [FusedConvolution]

    /// `precision`: of the convolutions' operands (`Autocast`); activations between them stay fp32.
    init(_ folded: FoldedTrunk, inputDims: [Int], observed: Bool = false, precision: Precision = .fp32) {
        self.inputDims = inputDims
        let batch = inputDims[0]
        func fused(_ layer: FoldedTrunk.Layer, height: Int, width: Int, accumulate: Bool, relu: Bool) -> FusedConvolution {
            FusedConvolution(layer.geometry(batch: batch, height: height, width: width), weight: layer.weight, bias: layer.bias, accumulate: accumulate,
                             relu: relu, precision: precision)
        }
        stem = fused(folded.stem, height: inputDims[2], width: inputDims[3], accumulate: false, relu: true)
        pool = MaxPoolNHWC(inputDims: stem.geometry.outputDims, kernel: 3, stride: 2, padding: 1)
        var (height, width) = (pool.outputDims[2], pool.outputDims[3])
        var made: [Block] = []
        for block in folded.blocks {
            let conv1 = fused(block.conv1, height: height, width: width, accumulate: false, relu: true)
            let downsample = block.downsample.map { fused($0, height: height, width: width, accumulate: false, relu: false) }
            (height, width) = (conv1.geometry.outHeight, conv1.geometry.outWidth)
            let conv2 = fused(block.conv2, height: height, width: width, accumulate: true, relu: true)
            made.append(Block(conv1: conv1, conv2: conv2, downsample: downsample))
        }
        blocks = made
        unfused = observed ? zip(folded.blocks, made).map { layer, block in
            FusedConvolution(block.conv2.geometry, weight: layer.conv2.weight, bias: layer.conv2.bias, accumulate: false, relu: false)
        } : []
    }

    /// (N, 3, H, W) to the pooled (N, 512), as the trunk's forward in evaluation mode.
    func callAsFunction(_ x: Tensor) -> Tensor { run(x, observer: nil) }

    /// The forward pass, showing `observer` every tensor an int8 trunk quantizes (`TrunkPoint`); the residual sums
    /// then run unfused, since their operands are among them (a plan made `observed`).
    func run(_ x: Tensor, observer: ActivationObserver?) -> Tensor {
        precondition(x.shape == inputDims, "inference trunk planned for \(inputDims), given \(x.shape)")
        precondition(observer == nil || unfused.count == blocks.count, "inference trunk: observed by a plan not made to be")
        func buffer(_ dims: [Int]) -> Tensor { Tensor(uninitialized: dims) }
        func show(_ point: TrunkPoint, _ t: Tensor) { observer?.observe(point, t.pointer, count: t.count) }
        let input = buffer(inputDims)
        reorderNHWC(inputDims, from: x.pointer, to: input.pointer)
        show(.input, input)
        let stemOut = buffer(stem.geometry.outputDims)
        stem(input.pointer, into: stemOut.pointer)
        show(.stem, stemOut)
        var h = buffer(pool.outputDims)
        pool(stemOut.pointer, into: h.pointer)
        for (index, block) in blocks.enumerated() {
            let middle = buffer(block.conv1.geometry.outputDims)
            block.conv1(h.pointer, into: middle.pointer)
            show(.conv1(index), middle)
            // The residual goes into the output buffer first; conv2 adds itself to it, then the ReLU.
            let out = buffer(block.conv2.geometry.outputDims)
            if let downsample = block.downsample {
                downsample(h.pointer, into: out.pointer)
                show(.downsample(index), out)
            } else {
                out.pointer.update(from: h.pointer, count: h.count)
            }
            if observer != nil {
                let branch = buffer(block.conv2.geometry.outputDims)
                unfused[index](middle.pointer, into: branch.pointer)
                show(.conv2(index), branch)
                for i in 0..<out.count { out.pointer[i] = max(0, out.pointer[i] + branch.pointer[i]) }
            } else {
                block.conv2(middle.pointer, into: out.pointer)
            }
            show(.output(index), out)
            h = out
        }
        return globalAveragePool(nhwc: h)
    }
}

/// What a trunk planned for one input shape computes: (N, 3, H, W) to the pooled (N, 512).
protocol TrunkPlan: AnyObject {
    func callAsFunction(_ x: Tensor) -> Tensor
}

/// Global average pooling over NHWC `h` (N, C, H, W as dims): each image's H x W rows of C channels, to (N, C).
func globalAveragePool(nhwc h: Tensor) -> Tensor {
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
