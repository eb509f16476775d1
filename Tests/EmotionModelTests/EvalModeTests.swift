import EmotionModel
import NN
import Tensor
import TestSupport
import XCTest

/// `eval()` reaches every dropout of every fusion: in evaluation mode a model with dropout gives the logits of the
/// same weights without dropout, whatever its generator has drawn (the training's dev figures rely on it).
final class EvalModeTests: XCTestCase {
    func testEvaluationModeTurnsEveryDropoutOff() throws {
        for fusion in Fusion.allCases {
            let noisy = EmotionModel(fusion: fusion, classes: referenceClasses.count, dropout: 0.5, seed: 3), plain = EmotionModel(fusion: fusion, classes: referenceClasses.count, dropout: 0)
            noisy.initializeParameters(seed: 11)
            plain.initializeParameters(seed: 11)
            noisy.eval()
            plain.eval()
            let count = 2, tv = 2, size = 32, melFrames = 16
            let frames = (0..<(count * tv * 3 * size * size)).map { Float(sin(Double($0) * 0.7)) }
            let mel = (0..<(count * 64 * melFrames)).map { Float(cos(Double($0) * 0.3)) }
            func logits(_ model: EmotionModel) throws -> [Float] {
                try withoutGrad { try model.logits(count: count, frames: frames, tv: tv, size: size, mel: mel, bands: 64, melFrames: melFrames) }.scalars
            }
            let first = try logits(noisy), second = try logits(noisy), reference = try logits(plain)
            XCTAssertEqual(first, second, "\(fusion.rawValue): two evaluation passes differ, so a dropout still draws")
            XCTAssertEqual(first, reference, "\(fusion.rawValue): evaluation mode does not give the dropout-free logits")
        }
    }
}
