import Foundation
import Tensor

/// `nn.Linear`: `y = x W^T + b`, W of shape (out, in).
public final class Linear: Module {
    public let weight: Tensor
    public let bias: Tensor?

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true) {
        weight = Module.makeParameter([outFeatures, inFeatures])
        self.bias = bias ? Module.makeParameter([outFeatures]) : nil
        super.init()
        register(parameter: "weight", weight)
        if let b = self.bias { register(parameter: "bias", b) }
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { linear(x, weight: weight, bias: bias) }

    /// PyTorch's: kaiming_uniform(a=sqrt(5)) on the weight, which is U(±1/sqrt(fan_in)), and the same bound for the bias.
    override public func resetParameters(_ random: RandomGenerator) {
        let bound = 1 / Float(weight.fanIn).squareRoot()
        weight.fillUniform(bound: bound, random)
        bias?.fillUniform(bound: bound, random)
    }
}

/// `nn.Conv2d` with a square kernel, stride and padding.
public final class Conv2d: Module {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: Int, padding: Int

    public init(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0, bias: Bool = true) {
        weight = Module.makeParameter([outChannels, inChannels, kernel, kernel])
        self.bias = bias ? Module.makeParameter([outChannels]) : nil
        self.stride = stride
        self.padding = padding
        super.init()
        register(parameter: "weight", weight)
        if let b = self.bias { register(parameter: "bias", b) }
    }

    /// `keepLayout`: the result may stay in oneDNN's blocked layout (see `conv2d`), for a caller that hands it only to
    /// layers that take it and calls `plainLayout()` where the convolutions end.
    public func callAsFunction(_ x: Tensor, keepLayout: Bool = false) -> Tensor {
        conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding, keepLayout: keepLayout)
    }

    /// PyTorch's: as Linear's, with fan_in = in_channels x k x k.
    override public func resetParameters(_ random: RandomGenerator) {
        let bound = 1 / Float(weight.fanIn).squareRoot()
        weight.fillUniform(bound: bound, random)
        bias?.fillUniform(bound: bound, random)
    }
}

/// `nn.BatchNorm2d(eps=1e-5, momentum=0.1)`: batch statistics and a running update in training, the running
/// statistics in evaluation. `relu: true` fuses the ReLU that follows it in every block of this model.
public final class BatchNorm2d: Module {
    public let weight: Tensor, bias: Tensor
    public let runningMean: Tensor, runningVar: Tensor
    public let batchesTracked = Counter()
    public let eps: Float, momentum: Float

    public init(_ channels: Int, eps: Float = 1e-5, momentum: Float = 0.1) {
        weight = Module.makeParameter([channels], value: 1)
        bias = Module.makeParameter([channels])
        runningMean = Tensor(zeros: [channels])
        runningVar = Tensor(repeating: 1, shape: [channels])
        self.eps = eps
        self.momentum = momentum
        super.init()
        register(parameter: "weight", weight)
        register(parameter: "bias", bias)
        register(buffer: "running_mean", runningMean)
        register(buffer: "running_var", runningVar)
        register(counter: "num_batches_tracked", batchesTracked)
    }

    public func callAsFunction(_ x: Tensor, relu: Bool = false) -> Tensor {
        if training { batchesTracked.value += 1 }
        return batchNorm2d(x, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar,
                           training: training, momentum: momentum, eps: eps, relu: relu)
    }
}

/// `nn.LayerNorm` over the last dimension.
public final class LayerNorm: Module {
    public let weight: Tensor, bias: Tensor
    public let eps: Float

    public init(_ features: Int, eps: Float = 1e-5) {
        weight = Module.makeParameter([features], value: 1)
        bias = Module.makeParameter([features])
        self.eps = eps
        super.init()
        register(parameter: "weight", weight)
        register(parameter: "bias", bias)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { layerNorm(x, weight: weight, bias: bias, eps: eps) }
}

/// `nn.Dropout`: active in training mode only; masks come from the model's seeded generator.
public final class Dropout: Module {
    public let p: Float
    let generator: RandomGenerator

    public init(_ p: Float, generator: RandomGenerator) {
        self.p = p
        self.generator = generator
        super.init()
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { dropout(x, p: p, training: training, generator: generator) }
}
