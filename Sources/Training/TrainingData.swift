import Dataset
import EmotionModel
import Foundation
import ModelContract
import Labels

/// Where a worker's batches come from: the sharded cache for real training, generated tensors for the benchmark.
public protocol TrainingData: Sendable {
    var trainCount: Int { get }
    var devCount: Int { get }
    /// The classes the labels index, in the model's output order.
    var classes: LabelSet { get }
    /// Training clips per class, in class order.
    var classCounts: [Int] { get }
    /// Frames per clip (Tv), chip side, mel bands.
    var shape: (frames: Int, size: Int, bands: Int) { get }
    /// The features the clips were made with (the shard index's), recorded in `train.json` for exports; nil for
    /// data that no pipeline made.
    var features: ShardIndex.Features? { get }
    /// Records at these positions of the training split, augmented as `epoch` decides.
    func trainBatch(_ positions: [Int], epoch: Int) throws -> Batch
    /// Records at these positions of the dev split, not augmented.
    func devBatch(_ positions: [Int]) throws -> Batch
}

/// The train and dev splits of a sharded cache (`shard_index`'s `train/index.json` and `dev/index.json`).
public struct ShardTrainingData: TrainingData {
    let train: BatchAssembler
    let dev: BatchAssembler

    /// `locate` turns a shard path of an index into the file's place on disk.
    public init(trainIndex: String, devIndex: String, settings: TrainingSettings, locate: @escaping @Sendable (String) -> String) throws {
        var batches = BatchSettings()
        batches.melFrames = settings.melFrames
        batches.flip = Float(settings.flip)
        batches.brightness = Float(settings.brightness)
        batches.contrast = Float(settings.contrast)
        batches.timeMask = settings.timeMask
        batches.frequencyMask = settings.frequencyMask
        batches.seed = UInt64(settings.seed)
        let trainSplit = try ShardedSplit(index: trainIndex, locate: locate), devSplit = try ShardedSplit(index: devIndex, locate: locate)
        guard trainSplit.count > 0 else { throw TrainingError("\(trainIndex): the training split has no clips") }
        guard trainSplit.index.classes == devSplit.index.classes else {
            throw TrainingError("\(devIndex): its classes (\(devSplit.index.classes)) differ from the training split's (\(trainSplit.index.classes))")
        }
        guard trainSplit.index.features == devSplit.index.features else {
            throw TrainingError("\(devIndex): its features (\(devSplit.index.features)) differ from the training split's (\(trainSplit.index.features))")
        }
        train = try BatchAssembler(split: trainSplit, settings: batches)
        batches.training = false
        dev = try BatchAssembler(split: devSplit, settings: batches)
    }

    public var trainCount: Int { train.split.count }
    public var devCount: Int { dev.split.count }
    public var classes: LabelSet { train.split.index.classes }
    public var classCounts: [Int] { train.split.index.classCounts }
    public var shape: (frames: Int, size: Int, bands: Int) {
        let features = train.split.index.features
        return (features.frames, features.size, features.melBands)
    }
    public var features: ShardIndex.Features? { train.split.index.features }

    public func trainBatch(_ positions: [Int], epoch: Int) throws -> Batch { try train.batch(positions, epoch: epoch) }
    public func devBatch(_ positions: [Int]) throws -> Batch { try dev.batch(positions, epoch: 0) }
}

/// Generated inputs of a chosen shape, the same for a given position: `make bench-train` measures steps without a dataset.
public struct SyntheticTrainingData: TrainingData {
    public let trainCount: Int
    public let devCount: Int
    public let classes: LabelSet
    public let shape: (frames: Int, size: Int, bands: Int)
    public var features: ShardIndex.Features? { nil }
    let melFrames: Int
    /// Batches carry face features `(Tv, 512)` in place of frames, as shards from `face_features` do.
    let faceFeatures: Bool

    public init(clips: Int, classes: LabelSet, frames: Int, size: Int, bands: Int = 64, melFrames: Int, faceFeatures: Bool = false) {
        trainCount = clips
        devCount = clips
        self.classes = classes
        shape = (frames, size, bands)
        self.melFrames = melFrames
        self.faceFeatures = faceFeatures
    }

    public var classCounts: [Int] { classes.indices.map { c in (0..<trainCount).filter { $0 % classes.count == c }.count } }

    public func trainBatch(_ positions: [Int], epoch: Int) throws -> Batch {
        let clipValues = faceFeatures ? shape.frames * ShardFormat.faceFeatureWidth : shape.frames * 3 * shape.size * shape.size
        let melValues = shape.bands * melFrames
        var batch = Batch(frames: [Float](repeating: 0, count: positions.count * clipValues), mel: [Float](repeating: 0, count: positions.count * melValues),
                          labels: positions.map { Int64($0 % classes.count) }, faceFound: positions.map { _ in true }, ids: positions.map { "clip\($0)" })
        for (slot, position) in positions.enumerated() {
            var state = UInt64(position) &* 0x9E37_79B9_7F4A_7C15 | 1
            func next() -> Float {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17
                return Float(state >> 40) * 0x1p-23 - 1
            }
            for i in 0..<clipValues { batch.frames[slot * clipValues + i] = faceFeatures ? next() + 1 : next() }
            for i in 0..<melValues { batch.mel[slot * melValues + i] = next() * 20 - 40 }
        }
        if faceFeatures { swap(&batch.frames, &batch.faceFeatures) }
        return batch
    }

    public func devBatch(_ positions: [Int]) throws -> Batch { try trainBatch(positions, epoch: 0) }
}
