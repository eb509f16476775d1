import Foundation
import NN
import Tensor

/// How the two encoders' outputs are combined (MODEL.md, section Network, item 3).
public enum Fusion: String, CaseIterable, Sendable, Codable {
    case crossAttention = "cross_attention"
    case transformer
    case concat
    case visual
    case audio

    public var usesVisual: Bool { self != .audio }
    public var usesAudio: Bool { self != .visual }
    /// Width of the classifier's input.
    public var fusedWidth: Int { self == .visual || self == .audio ? 256 : 512 }
}

/// Why inputs do not fit the model: names the tensor, its shape and what was expected.
public struct ModelInputError: Error, CustomStringConvertible {
    public let description: String
    public init(description: String) { self.description = description }
}

/// `visual`: ResNet-18 on every frame, `proj` to 256 and a ReLU: (B, Tv, 3, H, W) to (B, Tv, 256).
public final class VisualEncoder: Module {
    public let backbone = ResNet18Trunk()
    public let proj = Linear(512, 256)

    override public init() {
        super.init()
        child("backbone", backbone)
        child("proj", proj)
    }

    public func callAsFunction(_ frames: Tensor) -> (backbone: Tensor, sequence: Tensor) {
        let b = frames.shape[0], t = frames.shape[1]
        let features = backbone(frames.reshaped([b * t] + Array(frames.shape[2...])))
        return (features, relu(proj(features)).reshaped([b, t, 256]))
    }

    /// The same from the trunk's pooled features, computed before: (B, Tv, 512) to (B, Tv, 256). Training with a
    /// frozen trunk feeds the features the `face_features` stage cached.
    public func callAsFunction(features: Tensor) -> (backbone: Tensor, sequence: Tensor) {
        let b = features.shape[0], t = features.shape[1]
        let flat = features.reshaped([b * t, features.shape[2]])
        return (flat, relu(proj(flat)).reshaped([b, t, 256]))
    }
}

/// `audio`: three conv-BN-ReLU-maxpool blocks, then a 2-layer bidirectional GRU: (B, 1, 64, Ta) to (B, Ta/8, 256).
public final class AudioEncoder: Module {
    let convs = [Conv2d(1, 32, kernel: 3, padding: 1), Conv2d(32, 64, kernel: 3, padding: 1), Conv2d(64, 128, kernel: 3, padding: 1)]
    let norms = [BatchNorm2d(32), BatchNorm2d(64), BatchNorm2d(128)]
    public let gru = GRU(inputSize: 1024, hiddenSize: 128, layers: 2, bidirectional: true)

    override public init() {
        super.init()
        child("conv", Indexed([(0, convs[0]), (1, norms[0]), (4, convs[1]), (5, norms[1]), (8, convs[2]), (9, norms[2])]))
        child("gru", gru)
    }

    public func callAsFunction(_ mel: Tensor) -> (conv: Tensor, sequence: Tensor) {
        var h = mel
        // In training, the activations stay in oneDNN's blocked layout through the three blocks.
        for (conv, norm) in zip(convs, norms) { h = maxPool2d(norm(conv(h, keepLayout: true), relu: true), kernel: 2, stride: 2) }
        h = h.plainLayout()
        let b = h.shape[0], steps = h.shape[3]
        let sequence = h.permuted([0, 3, 1, 2]).reshaped([b, steps, h.shape[1] * h.shape[2]])
        return (h, gru(sequence).output)
    }
}

/// Sequential(Linear(256, 512), ReLU, Dropout, Linear(512, 256)), named `0` and `3`.
final class FeedForward: Module {
    let first = Linear(256, 512), second = Linear(512, 256)
    let drop: Dropout

    init(dropout: Float, generator: RandomGenerator) {
        drop = Dropout(dropout, generator: generator)
        super.init()
        child("0", first)
        child("2", drop)
        child("3", second)
    }

    func callAsFunction(_ x: Tensor) -> Tensor { second(drop(relu(first(x)))) }
}

/// `cross_attention`: each modality attends to the other, then residual, LayerNorm and feed-forward per side.
final class CrossAttentionFusion: Module {
    let v2a: MultiheadAttention, a2v: MultiheadAttention
    let vNorm1 = LayerNorm(256), vNorm2 = LayerNorm(256), aNorm1 = LayerNorm(256), aNorm2 = LayerNorm(256)
    let vFFN: FeedForward, aFFN: FeedForward

    init(dropout: Float, generator: RandomGenerator) {
        v2a = MultiheadAttention(embedDim: 256, heads: 8, generator: generator)
        a2v = MultiheadAttention(embedDim: 256, heads: 8, generator: generator)
        vFFN = FeedForward(dropout: dropout, generator: generator)
        aFFN = FeedForward(dropout: dropout, generator: generator)
        super.init()
        child("v2a", v2a); child("a2v", a2v)
        child("v_norm1", vNorm1); child("v_ffn", vFFN); child("v_norm2", vNorm2)
        child("a_norm1", aNorm1); child("a_ffn", aFFN); child("a_norm2", aNorm2)
    }

    func callAsFunction(visual: Tensor, audio: Tensor) -> Tensor {
        var v = vNorm1(visual + v2a(query: visual, key: audio, value: audio))
        v = vNorm2(v + vFFN(v))
        var a = aNorm1(audio + a2v(query: audio, key: visual, value: visual))
        a = aNorm2(a + aFFN(a))
        return concat([v.mean(axis: 1), a.mean(axis: 1)], axis: 1)
    }
}

/// `transformer`: both sequences, tagged by a learned modality embedding, through a 2-layer encoder.
final class TransformerFusion: Module {
    let modality = Module.makeParameter([2, 256])
    let layers: [TransformerEncoderLayer]

    init(dropout: Float, generator: RandomGenerator) {
        layers = (0..<2).map { _ in TransformerEncoderLayer(dModel: 256, heads: 8, feedForward: 512, dropout: dropout, generator: generator) }
        super.init()
        register(parameter: "modality", modality)
        let encoder = Indexed([])
        encoder.child("layers", Indexed(layers.enumerated().map { ($0.offset, $0.element as Module) }))
        child("encoder", encoder)
    }

    /// The modality embeddings start small, N(0, 0.02²), as learned position embeddings usually do.
    override func resetParameters(_ random: RandomGenerator) { modality.fillNormal(std: 0.02, random) }

    func callAsFunction(visual: Tensor, audio: Tensor) -> Tensor {
        let tv = visual.shape[1]
        var tokens = concat([visual + modality.select(axis: 0, 0), audio + modality.select(axis: 0, 1)], axis: 1)
        for layer in layers { tokens = layer(tokens) }
        let ta = tokens.shape[1] - tv
        return concat([tokens.slice(axis: 1, 0..<tv).mean(axis: 1), tokens.slice(axis: 1, tv..<tv + ta).mean(axis: 1)], axis: 1)
    }
}

/// Sequential(Linear(in, 256), ReLU, Dropout, Linear(256, 128), ReLU, Dropout, Linear(128, classes)), named 0, 3, 6.
final class Classifier: Module {
    let layers: [Linear]
    let drop: Dropout

    init(inFeatures: Int, classes: Int, dropout: Float, generator: RandomGenerator) {
        layers = [Linear(inFeatures, 256), Linear(256, 128), Linear(128, classes)]
        drop = Dropout(dropout, generator: generator)
        super.init()
        // The one Dropout stands at 2 and 5 of PyTorch's Sequential; registered so that `eval()` reaches it.
        child("0", layers[0]); child("2", drop); child("3", layers[1]); child("6", layers[2])
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        layers[2](drop(relu(layers[1](drop(relu(layers[0](x)))))))
    }
}

/// MODEL.md's `EmotionModel`: face and voice encoders, one of five fusions, and the classifier, with
/// PyTorch's parameter names throughout.
public final class EmotionModel: Module {
    /// What one forward pass computed: the logits and the intermediate tensors MODEL.md names.
    public struct Output {
        public var logits: Tensor
        public var backbone: Tensor?, visualSequence: Tensor?
        public var audioConv: Tensor?, audioSequence: Tensor?
        public var fused: Tensor
    }

    public let fusion: Fusion
    /// Logits per clip: the size of the label set it is trained on.
    public let classes: Int
    public let dropout: Float
    public let visual: VisualEncoder?
    public let audio: AudioEncoder?
    let crossAttention: CrossAttentionFusion?
    let transformer: TransformerFusion?
    let classifier: Classifier
    /// Source of every dropout mask in the model.
    public let generator: RandomGenerator

    public init(fusion: Fusion = .crossAttention, classes: Int, dropout: Float = 0.3, seed: UInt64 = 0) {
        precondition(classes >= 2, "a classifier needs at least two classes")
        self.fusion = fusion
        self.classes = classes
        self.dropout = dropout
        generator = RandomGenerator(seed: seed)
        visual = fusion.usesVisual ? VisualEncoder() : nil
        audio = fusion.usesAudio ? AudioEncoder() : nil
        crossAttention = fusion == .crossAttention ? CrossAttentionFusion(dropout: dropout, generator: generator) : nil
        transformer = fusion == .transformer ? TransformerFusion(dropout: dropout, generator: generator) : nil
        classifier = Classifier(inFeatures: fusion.fusedWidth, classes: classes, dropout: dropout, generator: generator)
        super.init()
        if let visual { child("visual", visual) }
        if let audio { child("audio", audio) }
        if let crossAttention { child("fusion", crossAttention) }
        if let transformer { child("fusion", transformer) }
        child("classifier", classifier)
    }

    /// Checks the inputs MODEL.md defines: frames (B, Tv, 3, H, W) (or the trunk's features of them, (B, Tv, 512)) and
    /// mel (B, 1, 64, Ta) with Ta a multiple of 8.
    public func validate(frames: Tensor?, faceFeatures: Tensor? = nil, mel: Tensor?) throws {
        var batch: Int?
        if fusion.usesVisual, let faceFeatures {
            guard faceFeatures.rank == 3, faceFeatures.shape[2] == 512, faceFeatures.shape[0] > 0, faceFeatures.shape[1] > 0 else {
                throw ModelInputError(description: "face features have shape \(faceFeatures.shape); expected (B, Tv, 512)")
            }
            batch = faceFeatures.shape[0]
        } else if fusion.usesVisual {
            guard let frames else { throw ModelInputError(description: "fusion \(fusion.rawValue) needs frames (B, Tv, 3, H, W)") }
            guard frames.rank == 5, frames.shape[2] == 3, frames.shape[0] > 0, frames.shape[1] > 0, frames.shape[3] >= 32, frames.shape[4] >= 32 else {
                throw ModelInputError(description: "frames has shape \(frames.shape); expected (B, Tv, 3, H, W) with H, W >= 32")
            }
            batch = frames.shape[0]
        }
        if fusion.usesAudio {
            guard let mel else { throw ModelInputError(description: "fusion \(fusion.rawValue) needs mel (B, 1, 64, Ta)") }
            guard mel.rank == 4, mel.shape[1] == 1, mel.shape[2] == 64, mel.shape[3] >= 8, mel.shape[0] > 0 else {
                throw ModelInputError(description: "mel has shape \(mel.shape); expected (B, 1, 64, Ta) with Ta >= 8")
            }
            if let batch, batch != mel.shape[0] {
                throw ModelInputError(description: "frames has batch \(batch) but mel has batch \(mel.shape[0])")
            }
        }
    }

    /// The logits for `count` clips given as flat buffers in MODEL.md's layout (frames `(count, Tv, 3, size, size)`, mel
    /// `(count, 1, bands, melFrames)`), or with the trunk's features `(count, Tv, 512)` in place of the frames when
    /// `faceFeatures` is not empty; only the inputs this fusion uses become tensors.
    public func logits(count: Int, frames: [Float], faceFeatures: [Float] = [], tv: Int, size: Int, mel: [Float], bands: Int,
                       melFrames: Int) throws -> Tensor {
        let cached = fusion.usesVisual && !faceFeatures.isEmpty
        return try forward(frames: fusion.usesVisual && !cached ? Tensor(frames, shape: [count, tv, 3, size, size]) : nil,
                           faceFeatures: cached ? Tensor(faceFeatures, shape: [count, tv, 512]) : nil,
                           mel: fusion.usesAudio ? Tensor(mel, shape: [count, 1, bands, melFrames]) : nil).logits
    }

    /// Lets evaluation-mode forwards without gradients run the face trunk fused (BatchNorm folded into the
    /// convolutions, one layout throughout; `InferenceTrunk`) on the weights as they are now: for evaluation, export and
    /// inference, where they no longer change. Call it after `eval()`, and again after changing the weights.
    public func prepareForInference() { visual?.backbone.prepareForInference() }

    /// Turns this model into what `model_int8.onnx` computes, for good: every weight that file stores in int8 (those of
    /// convolutions, linear layers, the GRU and attention; one symmetric scale per output row) replaced by the value its
    /// code stands for, and, given the face trunk's `calibration`, the trunk run in int8 (`QuantizedTrunk`) from its
    /// float weights folded with their BatchNorms, which is what that file quantizes then. Call after `eval()`.
    public func quantize(trunk calibration: TrunkCalibration?) {
        for (name, tensor) in namedParameters() where tensor.shape.count >= 2 && name != "fusion.modality" {
            if calibration != nil && name.hasPrefix("visual.backbone.") { continue }
            let quantized = Int8Quantization(tensor.scalars, channels: tensor.shape[0]).dequantized
            quantized.withUnsafeBufferPointer { tensor.pointer.update(from: $0.baseAddress!, count: quantized.count) }
        }
        if let calibration { visual?.backbone.prepareForInference(int8: calibration) } else { prepareForInference() }
    }

    /// Shows `observer` the face trunk's activations on `frames` (B, Tv, 3, H, W), as the float trunk computes them in
    /// evaluation mode: one batch of an int8 calibration.
    public func observeTrunk(frames: Tensor, _ observer: ActivationObserver) {
        guard let visual else { return }
        visual.backbone.observe(frames.reshaped([frames.shape[0] * frames.shape[1]] + Array(frames.shape[2...])), observer)
    }

    /// Checks that face features made by a trunk with digest `digest` (`ResNet18Trunk.weightsDigest`) can stand for
    /// this model's frames: only its own trunk's features can. `source` names where the features come from.
    public func checkFaceFeatures(digest: String?, source: String) throws {
        guard let visual else { return }
        let mine = visual.backbone.weightsDigest()
        guard digest == mine else {
            throw ModelInputError(description: "\(source) holds face features of a trunk with digest \(digest ?? "(none recorded)"), but this model's trunk has \(mine): "
                                  + "extract them with the weights the model starts from (the face_features stage's init and init_prefix)")
        }
    }

    /// `faceFeatures`, when given, stands for the frames: the trunk's output for them, computed before.
    public func forward(frames: Tensor?, faceFeatures: Tensor? = nil, mel: Tensor?) throws -> Output {
        try validate(frames: frames, faceFeatures: faceFeatures, mel: mel)
        var backbone: Tensor?, visualSequence: Tensor?, audioConv: Tensor?, audioSequence: Tensor?
        if let visual, let faceFeatures {
            (backbone, visualSequence) = visual(features: faceFeatures)
        } else if let visual, let frames {
            (backbone, visualSequence) = visual(frames)
        }
        if let audio, let mel { (audioConv, audioSequence) = audio(mel) }
        let fused: Tensor
        switch fusion {
        case .crossAttention: fused = crossAttention!(visual: visualSequence!, audio: audioSequence!)
        case .transformer: fused = transformer!(visual: visualSequence!, audio: audioSequence!)
        case .concat: fused = concat([visualSequence!.mean(axis: 1), audioSequence!.mean(axis: 1)], axis: 1)
        case .visual: fused = visualSequence!.mean(axis: 1)
        case .audio: fused = audioSequence!.mean(axis: 1)
        }
        return Output(logits: classifier(fused), backbone: backbone, visualSequence: visualSequence,
                      audioConv: audioConv, audioSequence: audioSequence, fused: fused)
    }
}
