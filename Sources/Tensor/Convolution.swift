import Foundation
import OneDNN

/// PyTorch's `conv2d` on NCHW input with OIHW weights, square stride and padding, on oneDNN, in the autocast precision.
/// `x` may be in a blocked layout. With `keepLayout`, when a gradient will be asked for in fp32, the result stays in the
/// blocked layout oneDNN computes in, for the batch normalization, pooling and next convolution that follow.
public func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: Int = 1, padding: Int = 0, keepLayout: Bool = false) -> Tensor {
    shapeCheck(x.rank == 4 && weight.rank == 4 && x.shape[1] == weight.shape[1],
               "conv2d: input \(x.shape) for weight \(weight.shape)")
    let geometry = ConvolutionGeometry(batch: x.shape[0], inChannels: x.shape[1], outChannels: weight.shape[0],
                                       height: x.shape[2], width: x.shape[3],
                                       kernelHeight: weight.shape[2], kernelWidth: weight.shape[3],
                                       stride: stride, padding: padding, hasBias: bias != nil)
    shapeCheck(geometry.outHeight > 0 && geometry.outWidth > 0, "conv2d: input \(x.shape) too small for kernel \(weight.shape)")
    let plan = Convolution.plan(geometry, precision: Autocast.precision)
    let result = Tensor(uninitialized: geometry.outputDims)
    var inputs = [x, weight]
    if let bias { inputs.append(bias) }
    let recorded = GradMode.isEnabled && inputs.contains { $0.requiresGrad }
    result.layout = plan.forward(input: x.storage.pointer, inputLayout: x.layout, weight: weight.pointer, bias: bias?.pointer,
                                 output: result.storage.pointer, inference: !recorded, keepLayout: keepLayout && recorded && Autocast.precision == .fp32)
    return result.recording(inputs) { g in
        var dx: Tensor?, dw: Tensor?, db: Tensor?
        if x.requiresGrad {
            dx = Tensor.uninitialized(x.shape, in: x.layout)
            plan.backwardData(gradOutput: g.storage.pointer, gradOutputLayout: g.layout, weight: weight.pointer,
                              gradInput: dx!.storage.pointer, gradInputLayout: x.layout)
        }
        if weight.requiresGrad || (bias?.requiresGrad ?? false) {
            dw = Tensor(uninitialized: weight.shape)
            db = bias.map { Tensor(uninitialized: $0.shape) }
            plan.backwardWeights(input: x.storage.pointer, inputLayout: x.layout, gradOutput: g.storage.pointer, gradOutputLayout: g.layout,
                                 gradWeight: dw!.pointer, gradBias: db?.pointer)
        }
        return [dx, weight.requiresGrad ? dw : nil, bias?.requiresGrad == true ? db : nil]
    }
}
