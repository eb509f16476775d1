import Dataset
import EmotionModel
import EmotionStages
import Foundation
import NN
import Pipeline
import Safetensors
import Synthesis
import Tensor
import TestSupport
import XCTest

/// The frozen recipe through the runner, on a generated MELD-layout folder: the `face_features` stage's features are
/// the trunk's output inside a full forward pass; training on shards of those features gives the parameters that
/// training the full model on pixels with the trunk frozen gives (same seed, same batches); a new trunk file reruns
/// the extraction and a new fusion does not; features of another trunk, or pixel augmentations on features, are refused.
final class FrozenTrunkTests: XCTestCase {
    static let training = "{fusion: visual, workers: 1, batch: 2, threads: 1, epochs: 2, mel_frames: 16, warmup: 1, flip: 0.5, brightness: 0, contrast: 0, init: weights/trunk.safetensors, freeze: visual.backbone.}"
    static let pipeline = TinyTrainedModel.preprocessing + """
          face_features: {uses: face_features, map: faces, deps: [weights], params: {init: weights/trunk.safetensors}}
          feature_shards: {uses: shards, map: face_features, join: [mel, {stage: clean, under: rows}], params: {shards: 2}}
          feature_index: {uses: shard_index, deps: [feature_shards, clean]}
          on_pixels: {uses: train, deps: [shard_index, shards, weights], params: \(training)}
          on_features: {uses: train, deps: [feature_index, feature_shards, weights], params: \(training)}
        """

    private var folder: TemporaryFolder!
    private var data: String { folder.file("data") }

    override func setUpWithError() throws {
        folder = try TemporaryFolder()
        var params = SynthesisParams()
        params.seed = 17
        params.dialogues = [.train: 3, .dev: 1, .test: 1]
        params.utterancesPerDialogue = 2
        params.width = 160
        params.height = 120
        try DatasetSynthesizer.write(params, to: data + "/MELD.Raw", threads: 2)
        try writeTrunk(seed: 1)
    }

    /// A face model's state dictionary whose BatchNorm layers have non-trivial running statistics, so that evaluation
    /// mode (what a frozen trunk runs in) and training mode differ.
    private func writeTrunk(seed: UInt64) throws {
        let model = EmotionModel(fusion: .visual, classes: referenceClasses.count, dropout: 0)
        model.initializeParameters(seed: seed)
        var random = SeededGenerator(seed: seed)
        for (name, entry) in model.namedState() {
            guard case .tensor(let t) = entry else { continue }
            if name.hasSuffix("running_mean") { for i in 0..<t.count { t.pointer[i] = Float.random(in: -0.2...0.2, using: &random) } }
            if name.hasSuffix("running_var") { for i in 0..<t.count { t.pointer[i] = Float.random(in: 0.5...2, using: &random) } }
        }
        try FileManager.default.createDirectory(atPath: data + "/weights", withIntermediateDirectories: true)
        try model.saveStateDictionary(to: data + "/weights/trunk.safetensors")
    }

    private func graph(_ yaml: String, name: String = "p") throws -> PipelineGraph {
        try Data(yaml.utf8).write(to: URL(fileURLWithPath: folder.file("\(name).yaml")))
        return try PipelineGraph(try PipelineSpec.load(file: folder.file("\(name).yaml")), registry: ProjectStages.registry)
    }

    private func runPipeline(_ yaml: String = FrozenTrunkTests.pipeline, name: String = "p") throws -> RunSummary {
        try Runner(workspace: try Workspace(root: data), graph: try graph(yaml, name: name), progress: Progress(quiet: true)).run()
    }

    func testFrozenTrunkOnCachedFeaturesIsTheFullModelFrozen() throws {
        let summary = try runPipeline()
        XCTAssertFalse(summary.failed, "\(summary.stages.flatMap(\.failures))")

        // The stage's features are what the trunk computes inside a whole forward pass (module path, evaluation mode).
        let model = EmotionModel(fusion: .visual, classes: referenceClasses.count, dropout: 0)
        try model.loadStateDictionary(try SafetensorsFile(path: data + "/weights/trunk.safetensors"))
        model.eval()
        let split = try ShardedSplit(index: data + "/out/p/shard_index/train/index.json", root: data + "/out/p/shards")
        let features = try ShardedSplit(index: data + "/out/p/feature_index/train/index.json", root: data + "/out/p/feature_shards")
        XCTAssertEqual(features.index.features.faceFeatures?["trunk_sha256"], model.visual!.backbone.weightsDigest())
        XCTAssertEqual(features.index.features.size, 32, "the chips' size travels with their features")
        XCTAssertEqual(features.count, split.count)
        XCTAssertGreaterThan(split.count, 3)
        var worst = 0.0
        for position in 0..<split.count {
            let (pixels, cached) = (try split.record(position), try features.record(position))
            XCTAssertEqual(pixels.id, cached.id)
            XCTAssertEqual(pixels.mel, cached.mel)
            for (flip, expected) in [(false, cached.faceFeatures), (true, cached.flippedFaceFeatures)] {
                var input = [Float](repeating: 0, count: 2 * 3 * 32 * 32)
                pixels.frames.withUnsafeBufferPointer { chips in
                    input.withUnsafeMutableBufferPointer { BatchSettings.modelInput(chips: chips, frames: 2, size: 32, flip: flip, into: $0.baseAddress!) }
                }
                let output = try withoutGrad { try model.forward(frames: Tensor(input, shape: [1, 2, 3, 32, 32]), mel: nil) }
                let reference = output.backbone!.scalars
                XCTAssertEqual(expected.count, reference.count)
                let scale = max(reference.map { abs(Double($0)) }.max()!, 1e-3)
                worst = max(worst, zip(expected, reference).map { abs(Double($0) - Double($1)) / scale }.max()!)
            }
        }
        XCTAssertLessThan(worst, 1e-4, "features against the trunk in a full forward pass")

        // The same training, on pixels through the frozen trunk and on the cached features: the same parameters, and
        // the trunk (with its running statistics) exactly as the init file gave it.
        let (onPixels, onFeatures) = (try SafetensorsFile(path: data + "/out/p/on_pixels/last.safetensors"),
                                      try SafetensorsFile(path: data + "/out/p/on_features/last.safetensors"))
        let initial = try SafetensorsFile(path: data + "/weights/trunk.safetensors")
        XCTAssertEqual(onPixels.names, onFeatures.names)
        var trained = 0.0
        for name in onPixels.names where onPixels.entries[name]!.dtype == .f32 {
            let (a, b) = (try onPixels.floats(name), try onFeatures.floats(name))
            if name.hasPrefix("visual.backbone.") {
                XCTAssertEqual(a, try initial.floats(name), name)
                XCTAssertEqual(b, try initial.floats(name), name)
            } else {
                let scale = max(a.map { abs(Double($0)) }.max()!, 1e-3)
                trained = max(trained, zip(a, b).map { abs(Double($0) - Double($1)) / scale }.max()!)
                XCTAssertNotEqual(a, try initial.floats(name), "\(name) was trained")
            }
        }
        print("frozen trunk: features vs forward \(worst), trained parameters pixels vs features \(trained)")
        XCTAssertLessThan(trained, 1e-3, "trained parameters, pixels against cached features")
        let log = try String(contentsOfFile: data + "/out/p/on_features/train.log", encoding: .utf8)
        XCTAssertTrue(log.contains("training on cached face features") && log.contains("frozen: 11"), log)

        // A new fusion (or any training setting) leaves the extraction alone; a new trunk file reruns all of it.
        let newFusion = FrozenTrunkTests.pipeline.replacingOccurrences(of: "on_features: {uses: train, deps: [feature_index, feature_shards, weights], params: {fusion: visual,",
                                                                       with: "on_features: {uses: train, deps: [feature_index, feature_shards, weights], params: {fusion: concat,")
        var status = try Runner(workspace: try Workspace(root: data), graph: try graph(newFusion), progress: Progress(quiet: true)).status()
        XCTAssertEqual(status.first { $0.name == "face_features" }?.upToDate, true)
        XCTAssertEqual(status.first { $0.name == "on_features" }?.upToDate, false)
        try writeTrunk(seed: 2)
        status = try Runner(workspace: try Workspace(root: data), graph: try graph(FrozenTrunkTests.pipeline), progress: Progress(quiet: true)).status()
        let extraction = try XCTUnwrap(status.first { $0.name == "face_features" })
        XCTAssertFalse(extraction.upToDate)
        XCTAssertTrue(extraction.reasons.contains { $0.contains("weights") }, "\(extraction.reasons)")
        XCTAssertEqual(status.first { $0.name == "faces" }?.upToDate, true)
    }

    func testFeaturesOfAnotherTrunkOrPixelAugmentationsAreRefused() throws {
        let pipeline = FrozenTrunkTests.pipeline.components(separatedBy: "\n").filter { !$0.contains("on_pixels") && !$0.contains("on_features") }.joined(separator: "\n")
            + """

              other_trunk: {uses: train, deps: [feature_index, feature_shards, weights], params: {fusion: visual, workers: 1, batch: 2, threads: 1, epochs: 1, mel_frames: 16, brightness: 0, contrast: 0, init: weights/other.safetensors, freeze: visual.backbone.}}
              brightness: {uses: train, deps: [feature_index, feature_shards, weights], params: {fusion: visual, workers: 1, batch: 2, threads: 1, epochs: 1, mel_frames: 16, init: weights/trunk.safetensors, freeze: visual.backbone.}}
              misspelt: {uses: train, deps: [shard_index, shards, weights], params: {fusion: visual, workers: 1, batch: 2, threads: 1, epochs: 1, mel_frames: 16, init: weights/trunk.safetensors, freeze: "visual.bakbone."}}
              unfrozen: {uses: train, deps: [feature_index, feature_shards, weights], params: {fusion: visual, workers: 1, batch: 2, threads: 1, epochs: 1, mel_frames: 16, brightness: 0, contrast: 0, init: weights/trunk.safetensors}}
            """
        try FileManager.default.copyItem(atPath: data + "/weights/trunk.safetensors", toPath: data + "/weights/trunk-copy")
        try writeTrunk(seed: 3)
        try FileManager.default.moveItem(atPath: data + "/weights/trunk.safetensors", toPath: data + "/weights/other.safetensors")
        try FileManager.default.moveItem(atPath: data + "/weights/trunk-copy", toPath: data + "/weights/trunk.safetensors")
        let summary = try runPipeline(pipeline)
        func failure(_ stage: String) -> String { summary.stage(stage)?.failures.joined(separator: "\n") ?? "(no report)" }
        XCTAssertEqual(summary.stage("face_features")?.state, .ran)
        XCTAssertTrue(failure("other_trunk").contains("digest"), failure("other_trunk"))
        XCTAssertTrue(failure("brightness").contains("brightness and contrast cannot apply"), failure("brightness"))
        XCTAssertTrue(failure("unfrozen").contains("freeze"), failure("unfrozen"))
        XCTAssertTrue(failure("misspelt").contains("'visual.bakbone.' names no parameter"), failure("misspelt"))
    }
}
