import Foundation
import SeededRandom

/// How records become a batch: MODEL.md's input contract, and the training augmentations with their defaults.
public struct BatchSettings: Sendable, Hashable {
    /// Mel frames per clip (Ta): longer clips are cropped, shorter ones padded at the end with the clip's floor.
    public var melFrames = 300
    /// Random crops and the augmentations below; otherwise the centre crop and no augmentation.
    public var training = true
    /// Chance of flipping all of a clip's frames left to right together (0.5).
    public var flip: Float = 0.5
    /// Brightness offset drawn from [-b, b] on the [0, 1] scale, one per clip (0.1).
    public var brightness: Float = 0.1
    /// Contrast factor drawn from [1 - c, 1 + c], one per clip (0.1).
    public var contrast: Float = 0.1
    /// SpecAugment-style masks (off by default): up to this many mel frames, and mel bands, set to the clip's floor.
    public var timeMask = 0
    public var frequencyMask = 0
    /// With the epoch and the record, decides every random choice: the same seed gives the same batches.
    public var seed: UInt64 = 0

    public init() {}

    /// MODEL.md's per-channel normalisation (ImageNet's).
    public static let mean: [Float] = [0.485, 0.456, 0.406]
    public static let std: [Float] = [0.229, 0.224, 0.225]

    /// Where evaluation (and inference) takes a clip's `span` mel frames from: its centre (the start when it is shorter).
    public static func centredStart(length: Int, span: Int) -> Int { length <= span ? 0 : (length - span) / 2 }

    /// The value a clip's mel is padded with: its peak minus `topDB`, the floor `power_to_db` clipped it to (0 when empty).
    public static func melFloor(_ mel: [Float], topDB: Float) -> Float { mel.isEmpty ? 0 : mel.max()! - topDB }

    /// The model's mel input `(bands, span)` for one clip of `length` frames, `(length, bands)` when `timeMajor` (as shards
    /// hold it) or `(bands, length)` (as the mel stage writes it): frames `start ..< start + span`, those past the clip's
    /// end set to `floor`.
    public static func melWindow(_ mel: UnsafeBufferPointer<Float>, timeMajor: Bool, length: Int, bands: Int, start: Int, span: Int, floor: Float,
                                 into out: UnsafeMutablePointer<Float>) {
        for band in 0..<bands {
            for t in 0..<span {
                let source = start + t
                out[band * span + t] = source < length ? mel[timeMajor ? source * bands + band : band * length + source] : floor
            }
        }
    }

    /// One clip's chips, uint8 `(Tv, size, size, 3)`, as the model's input `(Tv, 3, size, size)`: scaled to [0, 1],
    /// optionally flipped left to right and given a contrast `gain` and brightness `offset` (clamped to [0, 1]), then
    /// normalised per channel. Training batches and the `face_features` stage both make their inputs here.
    public static func modelInput(chips pixels: UnsafeBufferPointer<UInt8>, frames: Int, size: Int, flip: Bool = false,
                                  gain: Float = 1, offset: Float = 0, into out: UnsafeMutablePointer<Float>) {
        let adjust = gain != 1 || offset != 0
        for frame in 0..<frames {
            for channel in 0..<3 {
                let (mean, std) = (BatchSettings.mean[channel], BatchSettings.std[channel])
                let plane = (frame * 3 + channel) * size * size
                for y in 0..<size {
                    for x in 0..<size {
                        let source = ((frame * size + y) * size + (flip ? size - 1 - x : x)) * 3 + channel
                        var value = Float(pixels[source]) / 255
                        if adjust { value = min(max(value * gain + offset, 0), 1) }
                        out[plane + y * size + x] = (value - mean) / std
                    }
                }
            }
        }
    }
}

/// One batch in MODEL.md's layout.
public struct Batch: Sendable {
    /// float32 `(B, Tv, 3, H, W)`, scaled to [0, 1] and normalised per channel; empty from shards of face features.
    public var frames: [Float]
    /// float32 `(B, Tv, 512)`: the face trunk's features of the frames, from shards of face features; empty otherwise.
    public var faceFeatures: [Float] = []
    /// float32 `(B, 1, mel_bands, Ta)`.
    public var mel: [Float]
    public var labels: [Int64]
    public var faceFound: [Bool]
    public var ids: [String]
    public var count: Int { labels.count }

    public init(frames: [Float], mel: [Float], labels: [Int64], faceFound: [Bool], ids: [String]) {
        self.frames = frames
        self.mel = mel
        self.labels = labels
        self.faceFound = faceFound
        self.ids = ids
    }
}

/// Turns records of a split into batches. Each record's random choices come from (seed, epoch, record), so a
/// batch is the same whichever thread builds it and whatever was built before.
public struct BatchAssembler: Sendable {
    public let split: ShardedSplit
    public let settings: BatchSettings

    /// Shards of face features (`face_features`) keep the flip, through the flipped frames' cached features, and the
    /// mel's crops and masks; brightness and contrast change pixels, which such shards no longer hold, so asking for
    /// them (or for flips without flipped features) is an error rather than a silent change of recipe.
    public init(split: ShardedSplit, settings: BatchSettings) throws {
        let features = split.index.features
        if features.holdsFaceFeatures && settings.training {
            if settings.brightness != 0 || settings.contrast != 0 {
                throw DatasetError("split '\(split.index.split)' holds cached face features, not pixels: brightness and contrast cannot apply (set both to 0; flips, time and frequency masks still do)")
            }
            if settings.flip > 0 && !features.holdsFlippedFaceFeatures {
                throw DatasetError("split '\(split.index.split)' holds no features of flipped frames: set flip to 0, or cache them (the face_features stage's flip: true)")
            }
        }
        self.split = split
        self.settings = settings
    }

    public func batch(_ positions: [Int], epoch: Int) throws -> Batch {
        let features = split.index.features
        let (frames, size, bands, span) = (features.frames, features.size, features.melBands, settings.melFrames)
        let floorBelowMax = Float(features.mel["top_db"] ?? 80)
        let cached = features.holdsFaceFeatures
        let clipValues = cached ? frames * ShardFormat.faceFeatureWidth : frames * 3 * size * size
        var batch = Batch(frames: [], mel: [Float](repeating: 0, count: positions.count * bands * span), labels: [], faceFound: [], ids: [])
        if cached { batch.faceFeatures = [Float](repeating: 0, count: positions.count * clipValues) }
        else { batch.frames = [Float](repeating: 0, count: positions.count * clipValues) }
        for (slot, position) in positions.enumerated() {
            let record = try split.record(position)
            var random = SeededRandom(seed: settings.seed ^ (UInt64(epoch) &* 0xD1B5_4A32_D192_ED03) ^ (UInt64(position) &* 0x9E37_79B9_7F4A_7C15))
            let augment = settings.training
            // Drawn whatever the shards hold, so that pixels and cached features see the same flips and mel crops.
            let flip = augment && Float(random.uniform(0, 1)) < settings.flip
            let gain = augment ? Float(random.uniform(Double(1 - settings.contrast), Double(1 + settings.contrast))) : 1
            let offset = augment ? Float(random.uniform(Double(-settings.brightness), Double(settings.brightness))) : 0
            if cached {
                batch.faceFeatures.replaceSubrange(slot * clipValues..<(slot + 1) * clipValues, with: flip ? record.flippedFaceFeatures : record.faceFeatures)
            } else {
                batch.frames.withUnsafeMutableBufferPointer { out in
                    record.frames.withUnsafeBufferPointer { pixels in
                        BatchSettings.modelInput(chips: pixels, frames: frames, size: size, flip: flip, gain: gain, offset: offset,
                                                 into: out.baseAddress! + slot * clipValues)
                    }
                }
            }
            let length = record.melFrames
            let floor = BatchSettings.melFloor(record.mel, topDB: floorBelowMax)
            let start = length <= span ? 0 : (augment ? Int(random.next() % UInt64(length - span + 1)) : BatchSettings.centredStart(length: length, span: span))
            let base = slot * bands * span
            batch.mel.withUnsafeMutableBufferPointer { out in
                record.mel.withUnsafeBufferPointer { mel in
                    BatchSettings.melWindow(mel, timeMajor: true, length: length, bands: bands, start: start, span: span, floor: floor, into: out.baseAddress! + base)
                }
            }
            if augment && settings.timeMask > 0 {
                let width = Int(random.next() % UInt64(settings.timeMask + 1)), first = Int(random.next() % UInt64(max(span - width, 0) + 1))
                for band in 0..<bands { for t in first..<min(first + width, span) { batch.mel[base + band * span + t] = floor } }
            }
            if augment && settings.frequencyMask > 0 {
                let width = Int(random.next() % UInt64(settings.frequencyMask + 1)), first = Int(random.next() % UInt64(max(bands - width, 0) + 1))
                for band in first..<min(first + width, bands) { for t in 0..<span { batch.mel[base + band * span + t] = floor } }
            }
            batch.labels.append(Int64(record.label))
            batch.faceFound.append(record.faceFound)
            batch.ids.append(record.id)
        }
        return batch
    }
}

/// Builds the next batch on one background thread while the caller computes with the current one. One thread,
/// not a pool: the engine's own threads hold the cores, and assembling is far cheaper than a training step.
public final class Prefetcher: @unchecked Sendable {
    private let condition = NSCondition()
    private var ready: [Int: Result<Batch, Error>] = [:]
    private let make: @Sendable (Int) throws -> Batch
    private let total: Int
    private var wanted = 0
    private var stopped = false

    /// Batches `0..<total`, batch `k` made by `make(k)`.
    public init(batches total: Int, _ make: @escaping @Sendable (Int) throws -> Batch) {
        self.total = total
        self.make = make
        let thread = Thread { [self] in work() }
        thread.name = "prefetch"
        thread.start()
    }

    private func work() {
        for number in 0..<total {
            condition.lock()
            // At most one batch ahead of the one asked for.
            while number > wanted + 1 && !stopped { condition.wait() }
            if stopped {
                condition.unlock()
                return
            }
            condition.unlock()
            let result = Result { try make(number) }
            condition.lock()
            ready[number] = result
            condition.broadcast()
            condition.unlock()
        }
    }

    /// Lets the thread end before every batch was asked for (an epoch cut short): a prefetcher not read to its end
    /// must be stopped.
    public func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    /// Batch `number`, in order from 0; waits while it is being built.
    public func batch(_ number: Int) throws -> Batch {
        condition.lock()
        defer { condition.unlock() }
        wanted = number
        condition.broadcast()
        while ready[number] == nil { condition.wait() }
        return try ready.removeValue(forKey: number)!.get()
    }
}
