import Dataset
import EmotionModel
import Foundation
import Labels
import Metrics
import ModelContract
import TestSupport
import XCTest

/// train.json and model_info.json have one reader and one writer: what one writes the other reads back whole, and a file
/// that says something outside the contract is refused naming the file and the field.
final class ContractFileTests: XCTestCase {
    private var folder: TemporaryFolder!

    override func setUpWithError() throws { folder = try TemporaryFolder() }

    private func summary(classes: LabelSet = referenceClasses) -> TrainingSummary {
        var settings = TrainingSettings()
        settings.fusion = .transformer
        settings.classWeights = .given([1, 2.5])
        return TrainingSummary(bestEpoch: 2, best: DevFigures(epoch: 2, ClassificationMetrics(confusion: [[1, 1], [0, 2]])), epochs: [], steps: 10,
                               stoppedEarly: false, wallSeconds: 1.5, samplesPerSecond: 3, workers: 2, threadsPerWorker: 1, devices: ["cpu"],
                               trainClips: 12, devClips: 5, parameters: 100, settings: settings, classes: classes,
                               features: ShardIndex.Features(frames: 2, size: 32, melBands: 64, mel: ["top_db": 80], faces: ["predictor": "/a/b.dat"]))
    }

    func testATrainingSummaryReadsBackAsWritten() throws {
        let path = folder.file("train.json")
        try summary().write(to: path)
        let read = try TrainingSummary.read(path)
        XCTAssertEqual(read.settings, summary().settings)
        XCTAssertEqual(read.classes, referenceClasses)
        XCTAssertEqual(read.features, summary().features)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        // The names a pipeline file uses, and paths as written.
        for expected in [#""fusion" : "transformer""#, #""class_weights" : "1.0,2.5""#, #""predictor" : "/a/b.dat""#] {
            XCTAssertTrue(text.contains(expected), "\(expected) in \(text)")
        }
    }

    func testAnUnknownFusionOrClassWeightIsRefusedNamingTheField() throws {
        let path = folder.file("train.json")
        try summary().write(to: path)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        for (from, to, expected) in [(#""fusion" : "transformer""#, #""fusion" : "fused""#, "train.json: settings.fusion: "),
                                     (#""class_weights" : "1.0,2.5""#, #""class_weights" : "heavy""#, "train.json: settings.class_weights: class_weights must be none, balanced or numbers"),
                                     (#""classes" : ["#, #""classez" : ["#, "train.json: classes is missing")] {
            try Data(text.replacingOccurrences(of: from, with: to).utf8).write(to: URL(fileURLWithPath: path))
            XCTAssertThrowsError(try TrainingSummary.read(path), to) { error in
                XCTAssertTrue("\(error)".contains(expected), "\(error)")
            }
        }
    }

    func testAFolderIsAnExportOrATrainingOutput() throws {
        XCTAssertThrowsError(try TrainedModelFolder(folder.path)) { error in
            XCTAssertTrue("\(error)".contains("neither an export folder (model_info.json, model.safetensors) nor a training output"), "\(error)")
        }
        let classes = try LabelSet(["neutral", "joy", "sadness", "anger"])
        try summary(classes: classes).write(to: folder.file("train.json"))
        let trained = try TrainedModelFolder(folder.path, weights: .last)
        XCTAssertEqual(trained.weights, folder.file("last.safetensors"))
        XCTAssertEqual(trained.fusion, .transformer)
        XCTAssertEqual(trained.classes, classes)
        XCTAssertEqual(trained.features?.frames, 2)
    }

    func testLossWeightsFollowTheLabelSet() throws {
        var settings = TrainingSettings()
        let four = try LabelSet(["a", "b", "c", "d"])
        XCTAssertNil(try settings.lossWeights(labels: four, counts: [1, 2, 3, 4]))
        settings.classWeights = .balanced
        // sklearn's compute_class_weight("balanced"): n / (classes x count), a class without clips keeping 1.
        XCTAssertEqual(try settings.lossWeights(labels: four, counts: [5, 10, 0, 5]), [1, 0.5, 1, 1])
        settings.classWeights = .given([1, 2, 3])
        XCTAssertThrowsError(try settings.lossWeights(labels: four, counts: [1, 1, 1, 1])) { error in
            XCTAssertEqual("\(error)", "class_weights gives 3 numbers for the 4 classes a,b,c,d")
        }
        XCTAssertEqual(ClassWeights("0.5, 2"), .given([0.5, 2]))
        XCTAssertNil(ClassWeights("0.5,x"))
    }

    /// An export folder whose model_info.json records the SHA-256 of its weights.
    private func export(melFrames: Int = 16) throws -> String {
        try Data((0..<64).map { UInt8($0) }).write(to: URL(fileURLWithPath: folder.file("model.safetensors")))
        var settings = TrainingSettings()
        settings.melFrames = melFrames
        let features = ShardIndex.Features(frames: 2, size: 32, melBands: 64, mel: [:])
        try ModelInfo(project: "MultimodalEmotion", projectVersion: "test", fusion: .audio, classes: referenceClasses, inputs: [:], outputs: [:],
                      shapes: ExportShapes(frames: 2, size: 32, melFrames: melFrames), features: features, normalization: [:], melLayout: "",
                      test: nil, testInt8: nil, training: settings, trainingSummary: [:],
                      files: ["model.safetensors": try ModelInfo.Exported(file: folder.file("model.safetensors"))]).write(to: folder.file("model_info.json"))
        return folder.path
    }

    /// Oracle for the digest: coreutils' sha256sum of the same file.
    func testAnExportsWeightsAreHeldToTheirRecordedDigest() throws {
        let path = try export()
        let recorded = try ModelInfo.read(folder.file("model_info.json")).files["model.safetensors"]
        let sum = try shell("/usr/bin/sha256sum", [folder.file("model.safetensors")])
        XCTAssertEqual(recorded?.sha256, String(String(decoding: sum.out, as: UTF8.self).prefix(64)))
        XCTAssertEqual(recorded?.bytes, 64)
        XCTAssertNoThrow(try TrainedModelFolder(path))
        try Data((0..<64).map { UInt8(63 - $0) }).write(to: URL(fileURLWithPath: folder.file("model.safetensors")))
        XCTAssertThrowsError(try TrainedModelFolder(path)) { error in
            XCTAssertTrue("\(error)".contains("model.safetensors: SHA-256") && "\(error)".contains("the file changed after the export"), "\(error)")
        }
    }

    /// A crafted size is refused before it can decide an allocation.
    func testSizesPastAnyModelsAreRefusedByField() throws {
        let path = try export(melFrames: 1_000_000_000_000)
        XCTAssertThrowsError(try TrainedModelFolder(path)) { error in
            XCTAssertTrue("\(error)".contains("model_info.json: mel_frames 1000000000000 is outside 8...360000"), "\(error)")
        }
        var summary = summary()
        summary.features?.size = 1 << 30
        try summary.write(to: folder.file("train.json"))
        XCTAssertThrowsError(try TrainedModelFolder(summary: folder.file("train.json"), weights: folder.file("best.safetensors"))) { error in
            XCTAssertTrue("\(error)".contains("train.json: features.size 1073741824 is outside 16...2048"), "\(error)")
        }
    }
}
