import Dataset
import Foundation
import Labels
import Safetensors
import TestSupport
import XCTest

/// Batches against hand-worked values: MODEL.md's scaling and normalisation in (B, Tv, 3, H, W), centre crops
/// and floor padding of the log-mel in evaluation, a flip that mirrors every frame, the same batch from the same seed.
final class BatchTests: XCTestCase {
    private var folder: TemporaryFolder!
    /// Two clips of one 2x2 frame; mel of 2 bands, 3 and 6 frames long.
    private let pixels: [[UInt8]] = [(0..<12).map { UInt8($0 * 20) }, (0..<12).map { UInt8(255 - $0 * 10) }]
    private let mels: [[Float]] = [[-10, -20, -30, -40, -50, -60], (0..<12).map { Float($0) }]  // time-major (T, 2)

    override func setUpWithError() throws {
        folder = try TemporaryFolder()
        var writer = SafetensorsWriter()
        writer.add(ShardFormat.mel, dtype: .f32, shape: [9, 2], bytes: Data((mels[0] + mels[1]).withUnsafeBytes { Array($0) }))
        writer.add(ShardFormat.melOffsets, shape: [3], int64s: [0, 3, 9])
        writer.add(ShardFormat.label, shape: [2], int64s: [3, 6])
        writer.add(ShardFormat.frames, dtype: .u8, shape: [2, 1, 2, 2, 3], bytes: Data(pixels[0] + pixels[1]))
        writer.add(ShardFormat.faceFound, dtype: .u8, shape: [2], bytes: Data([1, 0]))
        writer.metadata = [ShardFormat.clipsKey: #"["a.mp4","b.mp4"]"#]
        try FileManager.default.createDirectory(atPath: folder.file("shards/0"), withIntermediateDirectories: true)
        try writer.write(to: folder.file("shards/0/train.safetensors"))
        try writeIndex(sha256: try ShardedSplit.sha256(of: folder.file("shards/0/train.safetensors")))
    }

    private func writeIndex(sha256: String, classes: LabelSet = referenceClasses) throws {
        let index = ShardIndex(split: "train", records: 2, shards: [.init(path: "0/train.safetensors", sha256: sha256, records: 2)],
                               clips: ["a.mp4": .init(shard: 0, row: 0), "b.mp4": .init(shard: 0, row: 1)], classes: classes, labels: [:],
                               features: .init(frames: 1, size: 2, melBands: 2, mel: ["top_db": 80]))
        try JSONEncoder().encode(index).write(to: URL(fileURLWithPath: folder.file("index.json")))
    }

    private func assembler(_ settings: BatchSettings) throws -> BatchAssembler {
        try BatchAssembler(split: try ShardedSplit(index: folder.file("index.json"), root: folder.file("shards")), settings: settings)
    }

    func testEvaluationBatchFollowsModelMD() throws {
        var settings = BatchSettings()
        settings.training = false
        settings.melFrames = 4
        let batch = try assembler(settings).batch([0, 1], epoch: 0)
        XCTAssertEqual(batch.ids, ["a.mp4", "b.mp4"])
        XCTAssertEqual(batch.labels, [3, 6])
        XCTAssertEqual(batch.faceFound, [true, false])
        // frames: clip, frame 0, channel c, row y, column x <- pixels[clip][(y * 2 + x) * 3 + c], scaled and normalised.
        for clip in 0..<2 { for c in 0..<3 { for y in 0..<2 { for x in 0..<2 {
            let expected = (Float(pixels[clip][(y * 2 + x) * 3 + c]) / 255 - BatchSettings.mean[c]) / BatchSettings.std[c]
            XCTAssertEqual(batch.frames[clip * 12 + c * 4 + y * 2 + x], expected, accuracy: 1e-6)
        } } } }
        // mel (B, 1, bands, Ta): clip 0 has 3 frames, padded with its floor, max - 80 = -90; clip 1 has 6, centre crop from frame 1.
        XCTAssertEqual(Array(batch.mel[0..<8]), [-10, -30, -50, -90, -20, -40, -60, -90])
        XCTAssertEqual(Array(batch.mel[8..<16]), [2, 4, 6, 8, 3, 5, 7, 9])
    }

    func testTrainingAugmentsAndTheSameSeedGivesTheSameBatch() throws {
        var settings = BatchSettings()
        settings.melFrames = 4
        settings.flip = 1
        settings.brightness = 0
        settings.contrast = 0
        let flipped = try assembler(settings).batch([0], epoch: 0)
        for c in 0..<3 { for y in 0..<2 { for x in 0..<2 {
            let expected = (Float(pixels[0][(y * 2 + (1 - x)) * 3 + c]) / 255 - BatchSettings.mean[c]) / BatchSettings.std[c]
            XCTAssertEqual(flipped.frames[c * 4 + y * 2 + x], expected, accuracy: 1e-6, "mirrored")
        } } }
        settings.flip = 0.5
        settings.brightness = 0.2
        settings.contrast = 0.2
        settings.timeMask = 2
        settings.seed = 9
        let one = try assembler(settings).batch([1, 0], epoch: 3), two = try assembler(settings).batch([1, 0], epoch: 3)
        XCTAssertEqual(one.frames.map(\.bitPattern), two.frames.map(\.bitPattern))
        XCTAssertEqual(one.mel.map(\.bitPattern), two.mel.map(\.bitPattern))
        // A random crop of clip 1 is 4 consecutive frames of band 0 (0, 2, 4, ...), the floor where masked.
        let band0 = Array(one.mel[0..<4]).filter { $0 != 11 - 80 }
        XCTAssertTrue(band0.allSatisfy { Int($0) % 2 == 0 && $0 >= 0 && $0 <= 10 }, "\(band0)")
        let epochs = try (0..<8).map { try assembler(settings).batch([1], epoch: $0).mel }
        XCTAssertGreaterThan(Set(epochs.map { $0.map(\.bitPattern) }).count, 1, "another epoch draws another crop")
    }

    func testPrefetchedBatchesAreTheBatchesInOrder() throws {
        let assembler = try assembler(BatchSettings())
        let prefetcher = Prefetcher(batches: 4) { try assembler.batch([$0 % 2], epoch: $0) }
        for number in 0..<4 {
            XCTAssertEqual(try prefetcher.batch(number).frames, try assembler.batch([number % 2], epoch: number).frames)
        }
    }

    func testAShardThatDoesNotMatchItsIndexIsRefused() throws {
        try writeIndex(sha256: String(repeating: "0", count: 64))
        XCTAssertThrowsError(try assembler(BatchSettings()).batch([0], epoch: 0)) { error in
            XCTAssertTrue("\(error)".contains("0/train.safetensors does not match its index"), "\(error)")
        }
    }

    func testALabelOutsideTheIndexsClassesIsRefused() throws {
        // The shard's labels are 3 and 6: a four-class index cannot name the second.
        try writeIndex(sha256: try ShardedSplit.sha256(of: folder.file("shards/0/train.safetensors")),
                       classes: try LabelSet(["neutral", "joy", "sadness", "anger"]))
        XCTAssertThrowsError(try assembler(BatchSettings()).batch([0], epoch: 0)) { error in
            XCTAssertTrue("\(error)".contains("label 6 is outside the index's 4 classes (neutral,joy,sadness,anger)"), "\(error)")
        }
    }
}
