import Dataset
import EmotionModel
import Foundation
import NN
import OneDNN
import Safetensors
import Tensor

/// The face trunk run once per aligned frame, for the frozen recipe: its pooled 512-d features of each chip (and of the
/// chip flipped left to right), which training with that trunk frozen reads in place of the pixels. Made from a state
/// dictionary's trunk, in evaluation mode and fused for inference; not to be shared between threads.
public final class FaceFeatureExtractor {
    public let trunk: ResNet18Trunk
    /// `ResNet18Trunk.weightsDigest`: the models whose trunk has it can take these features for their frames.
    public let digest: String

    public init(trunk: ResNet18Trunk) {
        self.trunk = trunk
        trunk.eval()
        trunk.prepareForInference()
        digest = trunk.weightsDigest()
    }

    /// The trunk of a state dictionary whose names, after `prefix`, are the model's (`visual.backbone.conv1.weight`, ...):
    /// a face model's own (prefix empty) or torchvision's resnet18 (prefix `visual.backbone.`; its `fc` is left out).
    public convenience init(stateDictionary path: String, prefix: String) throws {
        let trunk = ResNet18Trunk()
        let place = "visual.backbone."
        try trunk.loadStateDictionary(try SafetensorsFile(path: path)) { name in
            let full = place + name
            return full.hasPrefix(prefix) ? String(full.dropFirst(prefix.count)) : "(outside init_prefix '\(prefix)') " + full
        }
        self.init(trunk: trunk)
    }

    /// The features of one clip's chips, uint8 `(frames, size, size, 3)`: `(frames, 512)` floats, and with `flip` those of
    /// the flipped chips, computed with `threads` engine threads (fixed, so that the bytes do not depend on the machine) in
    /// `precision`.
    public func features(chips: UnsafeBufferPointer<UInt8>, frames: Int, size: Int, flip: Bool, threads: Int,
                         precision: Precision = .fp32) -> (features: [Float], flipped: [Float]?) {
        let views = flip ? [false, true] : [false]
        let imageValues = 3 * size * size
        var input = [Float](repeating: 0, count: views.count * frames * imageValues)
        input.withUnsafeMutableBufferPointer { out in
            for (view, flipped) in views.enumerated() {
                BatchSettings.modelInput(chips: chips, frames: frames, size: size, flip: flipped, into: out.baseAddress! + view * frames * imageValues)
            }
        }
        let before = DNNL.threads
        DNNL.threads = threads
        defer { DNNL.threads = before }
        let output = withoutGrad { withPrecision(precision) { trunk(Tensor(input, shape: [views.count * frames, 3, size, size])) } }.scalars
        let width = ShardFormat.faceFeatureWidth
        return (Array(output[0..<frames * width]), flip ? Array(output[frames * width..<2 * frames * width]) : nil)
    }
}
