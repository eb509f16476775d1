import Dataset
import EmotionModel
import Foundation
@testable import Inference
import Labels
import ModelContract
import NN
import Tensor
import TestSupport
import XCTest

/// What `infer` and `watch` share: a trained model found in its folder serves the probabilities the network's module
/// path computes on the same inputs, sized by the model's own label set; a session record counts every class.
final class InferenceTests: XCTestCase {
    private let four = try! LabelSet(["neutral", "happy", "angry", "sad"])

    /// A hash-initialised four-class cross-attention model at tiny shapes, as a train stage would leave it.
    private func trainedFolder(_ folder: TemporaryFolder) throws -> EmotionModel {
        let model = EmotionModel(fusion: .crossAttention, classes: four.count, dropout: 0)
        model.hashInitialize()
        try model.saveStateDictionary(to: folder.file("best.safetensors"))
        var settings = TrainingSettings()
        settings.melFrames = 16
        let features = ShardIndex.Features(frames: 2, size: 32, melBands: 64, mel: ["top_db": 80], faces: ["max_side": "640"])
        try TrainingSummary(bestEpoch: 1, best: nil, epochs: [], steps: 1, stoppedEarly: false, wallSeconds: 0, samplesPerSecond: 0, workers: 1,
                            threadsPerWorker: 1, devices: [], trainClips: 1, devClips: 1, parameters: 0, settings: settings, classes: four,
                            features: features).write(to: folder.file("train.json"))
        model.eval()
        return model
    }

    /// Oracle: the module path (no fused trunk) on frames normalised here by ImageNet's mean and std, as MODEL.md says.
    func testATrainedModelServesTheModulePathsProbabilities() throws {
        let folder = try TemporaryFolder()
        let reference = try trainedFolder(folder)
        let trained = try TrainedModel(folder: folder.path)
        XCTAssertEqual(trained.classes, four)
        XCTAssertEqual(trained.melFrames, 16)
        let (tv, size, bands, frames) = (2, 32, 64, 16)
        let chips = (0..<2).map { clip in (0..<tv * size * size * 3).map { UInt8(truncatingIfNeeded: $0 * 13 + clip * 101) } }
        let mel = (0..<2).map { clip in (0..<bands * frames).map { Float(sin(Double($0 + clip * 7))) * 20 - 40 } }
        let served = try trained.probabilities(chips: chips, mel: mel, threads: 2)

        let (mean, std): ([Float], [Float]) = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
        var input = [Float](repeating: 0, count: 2 * tv * 3 * size * size)
        for clip in 0..<2 {
            for t in 0..<tv { for y in 0..<size { for x in 0..<size { for c in 0..<3 {
                let value = Float(chips[clip][((t * size + y) * size + x) * 3 + c]) / 255
                input[(((clip * tv + t) * 3 + c) * size + y) * size + x] = (value - mean[c]) / std[c]
            } } } }
        }
        let logits = try withoutGrad {
            try reference.forward(frames: Tensor(input, shape: [2, tv, 3, size, size]), mel: Tensor(mel.flatMap { $0 }, shape: [2, 1, bands, frames])).logits
        }
        XCTAssertEqual(logits.shape, [2, 4])
        for clip in 0..<2 {
            let row = (0..<4).map { Double(logits.scalars[clip * 4 + $0]) }
            let total = row.map { exp($0 - row.max()!) }.reduce(0, +)
            XCTAssertEqual(served[clip].count, 4)
            for (got, logit) in zip(served[clip], row) { XCTAssertEqual(got, exp(logit - row.max()!) / total, accuracy: 1e-4) }
        }
    }

    func testASessionRecordCountsEveryClassAndBreaksTiesByClassOrder() {
        let detections = [("angry", 0.8), ("happy", 0.6), ("angry", 0.7), ("happy", 0.5)].enumerated().map { index, pair in
            Detection(timestamp: Double(index) / 2, emotion: pair.0, confidence: pair.1, probabilities: [:], mode: "face_and_voice")
        }
        let record = SessionRecord(source: "clip.mp4", classes: four, started: Date(timeIntervalSince1970: 0), duration: 2, detections: detections, dropped: 1)
        XCTAssertEqual(record.emotionStatistics.distribution, ["neutral": 0, "happy": 2, "angry": 2, "sad": 0])
        XCTAssertEqual(record.emotionStatistics.dominantEmotion, "happy", "of equal counts, the class first in the model's order")
        XCTAssertEqual(record.emotionStatistics.averageConfidence, 0.65, accuracy: 1e-12)
        XCTAssertEqual(record.sessionInfo.totalDetections, 4)
        XCTAssertEqual(record.sessionInfo.droppedWindows, 1)
        XCTAssertNil(SessionRecord(source: "x", classes: four, started: Date(), duration: 0, detections: [], dropped: 0).emotionStatistics.dominantEmotion)
    }

    func testDevicesAreToldFromFilesAndStreams() {
        XCTAssertTrue(WatchSession.parse("lavfi:testsrc") == ("testsrc", "lavfi"), "libavdevice's lavfi is a device kind")
        XCTAssertTrue(WatchSession.parse("tcp://127.0.0.1:9000") == ("tcp://127.0.0.1:9000", nil))
        XCTAssertTrue(WatchSession.parse("clips/a:b.mp4") == ("clips/a:b.mp4", nil), "a colon in a file name")
    }
}
