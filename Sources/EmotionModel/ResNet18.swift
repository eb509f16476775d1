import Crypto
import Foundation
import NN
import Tensor

/// Children named "0", "1", ...: the shape of PyTorch's `nn.Sequential` in parameter names.
final class Indexed: Module {
    init(_ modules: [(Int, Module)]) {
        super.init()
        for (index, module) in modules { child(String(index), module) }
    }
}

/// torchvision's `BasicBlock`: two 3x3 convolutions with BatchNorm, and a 1x1 projection of the shortcut
/// (`downsample.0` / `downsample.1`) where the stride or width changes.
final class BasicBlock: Module {
    let conv1: Conv2d, bn1: BatchNorm2d, conv2: Conv2d, bn2: BatchNorm2d
    let downsample: (conv: Conv2d, bn: BatchNorm2d)?

    init(_ inChannels: Int, _ outChannels: Int, stride: Int) {
        conv1 = Conv2d(inChannels, outChannels, kernel: 3, stride: stride, padding: 1, bias: false)
        bn1 = BatchNorm2d(outChannels)
        conv2 = Conv2d(outChannels, outChannels, kernel: 3, stride: 1, padding: 1, bias: false)
        bn2 = BatchNorm2d(outChannels)
        downsample = stride != 1 || inChannels != outChannels
            ? (Conv2d(inChannels, outChannels, kernel: 1, stride: stride, bias: false), BatchNorm2d(outChannels)) : nil
        super.init()
        child("conv1", conv1)
        child("bn1", bn1)
        child("conv2", conv2)
        child("bn2", bn2)
        if let downsample { child("downsample", Indexed([(0, downsample.conv), (1, downsample.bn)])) }
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        let out = bn2(conv2(bn1(conv1(x, keepLayout: true), relu: true), keepLayout: true))
        let shortcut = downsample.map { $0.bn($0.conv(x, keepLayout: true)) } ?? x
        return addReLU(out, shortcut)
    }
}

/// torchvision's ResNet-18 trunk with its own parameter names, without `fc`: (N, 3, H, W) to (N, 512).
public final class ResNet18Trunk: Module {
    let conv1 = Conv2d(3, 64, kernel: 7, stride: 2, padding: 3, bias: false)
    let bn1 = BatchNorm2d(64)
    let stages: [[BasicBlock]]
    /// Set by `prepareForInference`: evaluation-mode forwards without gradients take plans made per input shape from the
    /// weights as they were then (`InferenceTrunk`, or `QuantizedTrunk` given a calibration); a switch of mode ends it.
    private var prepared = false
    private var int8: TrunkCalibration?
    /// By input shape and precision.
    private var plans: [PlanKey: TrunkPlan] = [:]
    private struct PlanKey: Hashable {
        let shape: [Int]
        let precision: Precision
    }
    /// The float plan calibration last ran.
    private var observed: InferenceTrunk?

    override public init() {
        let widths = [64, 128, 256, 512]
        var stages: [[BasicBlock]] = []
        var inChannels = 64
        for (i, width) in widths.enumerated() {
            let stride = i == 0 ? 1 : 2
            stages.append([BasicBlock(inChannels, width, stride: stride), BasicBlock(width, width, stride: 1)])
            inChannels = width
        }
        self.stages = stages
        super.init()
        child("conv1", conv1)
        child("bn1", bn1)
        for (i, blocks) in stages.enumerated() {
            child("layer\(i + 1)", Indexed(blocks.enumerated().map { ($0.offset, $0.element as Module) }))
        }
    }

    /// torchvision's: kaiming_normal(mode="fan_out", nonlinearity="relu") on every convolution (norm layers keep 1 and 0).
    override public func resetParameters(_ random: RandomGenerator) {
        for case let conv as Conv2d in modules() {
            let fanOut = conv.weight.shape[0] * conv.weight.shape[2] * conv.weight.shape[3]
            conv.weight.fillNormal(std: (2 / Float(fanOut)).squareRoot(), random)
        }
    }

    /// Makes the evaluation-mode forwards that follow, without gradients, run fused on a snapshot of the weights as they
    /// are now (`InferenceTrunk`, or the int8 trunk once given a calibration). Call it again after changing them;
    /// `train` or `eval` ends it.
    public func prepareForInference() {
        prepared = true
        plans = [:]
        observed = nil
    }

    /// From now on the plans are the int8 trunk with these activation scales.
    public func prepareForInference(int8 calibration: TrunkCalibration) {
        int8 = calibration
        prepareForInference()
    }

    override public func train(_ on: Bool = true) {
        super.train(on)
        prepared = false
        plans = [:]
        observed = nil
    }

    /// Runs the float trunk on `x` (N, 3, H, W) in evaluation mode for calibration, showing `observer` every tensor the
    /// int8 trunk quantizes.
    public func observe(_ x: Tensor, _ observer: ActivationObserver) {
        let plan = observed.flatMap { $0.inputDims == x.shape ? $0 : nil } ?? InferenceTrunk(FoldedTrunk(self), inputDims: x.shape, observed: true)
        observed = plan
        _ = plan.run(x, observer: observer)
        observer.countImages(x.shape[0])
    }

    /// Digest of the weights and running statistics (SHA-256 over each state entry's name, shape and bytes, in
    /// `state_dict` order): features cached from a trunk are valid for a model whose trunk has the same digest.
    public func weightsDigest() -> String {
        var hash = SHA256()
        for (name, entry) in namedState() {
            hash.update(data: Data((name + "\n").utf8))
            switch entry {
            case .tensor(let t):
                hash.update(data: Data("\(t.shape)\n".utf8))
                hash.update(bufferPointer: UnsafeRawBufferPointer(UnsafeBufferPointer(start: t.pointer, count: t.count)))
            case .counter(let c):
                withUnsafeBytes(of: c.value.littleEndian) { hash.update(bufferPointer: $0) }
            }
        }
        return hash.finalize().map { String(format: "%02x", $0) }.joined()
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        // Fused when no gradient can flow: no autograd at all, or a frozen trunk (training the rest) on plain inputs.
        if prepared && !training && (!GradMode.isEnabled || !x.requiresGrad && !parameters.contains { $0.requiresGrad }) {
            let key = PlanKey(shape: x.shape, precision: Autocast.precision)
            let plan = plans[key] ?? int8.map { QuantizedTrunk(FoldedTrunk(self), calibration: $0, inputDims: x.shape) }
                ?? InferenceTrunk(FoldedTrunk(self), inputDims: x.shape, precision: key.precision)
            plans[key] = plan
            return plan(x)
        }
        // In training, the activations stay in oneDNN's blocked layout from the stem to the pooling.
        var h = maxPool2d(bn1(conv1(x, keepLayout: true), relu: true), kernel: 3, stride: 2, padding: 1)
        for blocks in stages { for block in blocks { h = block(h) } }
        return globalAveragePool(h)
    }
}
