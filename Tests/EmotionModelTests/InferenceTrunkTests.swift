import EmotionModel
import NN
import Tensor
import TestSupport
import XCTest

/// The fused inference trunk (BatchNorm folded, NHWC throughout) computes what the module path computes in evaluation
/// mode, with trained-looking running statistics; it is dropped by training mode and rebuilt on request after the
/// weights change.
final class InferenceTrunkTests: XCTestCase {
    func testFusedTrunkMatchesTheModulePathAndFollowsTheWeights() throws {
        let model = EmotionModel(fusion: .visual, classes: referenceClasses.count, dropout: 0)
        model.initializeParameters(seed: 5)
        // Running statistics and affine parameters away from 0 and 1, so a wrong fold shows.
        var random = SystemRandomNumberGenerator()
        for (name, entry) in model.namedState() {
            guard case .tensor(let t) = entry, name.contains("bn") || name.contains("downsample.1") else { continue }
            for i in 0..<t.count {
                t.pointer[i] = name.hasSuffix("running_var") || name.hasSuffix("weight") ? Float.random(in: 0.5...1.5, using: &random)
                    : Float.random(in: -0.3...0.3, using: &random)
            }
        }
        model.eval()
        let count = 2, tv = 2, size = 64
        let frames = (0..<(count * tv * 3 * size * size)).map { Float(sin(Double($0) * 0.37)) }
        func logits() throws -> [Float] {
            try withoutGrad { try model.logits(count: count, frames: frames, tv: tv, size: size, mel: [], bands: 64, melFrames: 8) }.scalars
        }
        let reference = try logits()
        model.prepareForInference()
        let fused = try logits()
        let scale = max(1, reference.map(abs).max() ?? 0)
        let worst = zip(fused, reference).map { abs($0 - $1) }.max() ?? .infinity
        XCTAssertLessThan(worst / scale, 1e-4, "fused \(fused.prefix(4)) vs module path \(reference.prefix(4))")
        XCTAssertNotEqual(fused, reference, "the fused path did not run (bit-identical logits)")

        // New weights: the snapshot is stale until prepared again; training mode ends it.
        let conv = model.namedParameters().first { $0.0 == "visual.backbone.conv1.weight" }!.1
        for i in 0..<conv.count { conv.pointer[i] *= 0.5 }
        model.prepareForInference()
        let refreshed = try logits()
        model.train()
        model.eval()
        let modulePath = try logits()
        let refreshedWorst = zip(refreshed, modulePath).map { abs($0 - $1) }.max() ?? .infinity
        XCTAssertLessThan(refreshedWorst / max(1, modulePath.map(abs).max() ?? 0), 1e-4)
        XCTAssertNotEqual(modulePath, reference)
    }
}
