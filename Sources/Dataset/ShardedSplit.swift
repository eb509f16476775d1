import Crypto
import Foundation
import Safetensors

/// One split of a sharded cache, read in index order (shard by shard, row by row). Shards are memory-mapped
/// when first touched, and their SHA-256 checked against the index then: a shard whose bytes changed is an
/// error naming it, never silent garbage. Safe to read from several threads.
public final class ShardedSplit: @unchecked Sendable {
    /// One clip as the shard holds it.
    public struct Record {
        public var id: String
        public var label: Int
        public var faceFound: Bool
        /// uint8 `(Tv, H, W, 3)`; empty in shards of face features.
        public var frames: [UInt8]
        /// float32 `(Tv, 512)`, the trunk's features of the frames, and of the frames flipped (when cached); empty in
        /// shards of pixels.
        public var faceFeatures: [Float] = []
        public var flippedFaceFeatures: [Float] = []
        /// float32 `(T, mel_bands)`, time-major.
        public var mel: [Float]
        public var melFrames: Int
    }

    public let index: ShardIndex
    /// Where a shard path of the index is on disk.
    private let locate: @Sendable (String) -> String
    /// Where each shard's records start in index order.
    private let starts: [Int]
    private var opened: [Int: OpenShard] = [:]
    private let lock = NSLock()

    private struct OpenShard {
        var file: SafetensorsFile
        var clips: [String]
        var labels: [Int64]
        var faceFound: [UInt8]
        var offsets: [Int64]
    }

    /// `index`: a split's `index.json`; `root`: the folder its shard paths are relative to.
    public convenience init(index path: String, root: String) throws {
        try self.init(index: path) { root + "/" + $0 }
    }

    /// `index`: a split's `index.json`; `locate`: where each of its shard paths is (a stage finds its inputs in the cache).
    public init(index path: String, locate: @escaping @Sendable (String) -> String) throws {
        index = try ShardIndex.read(path)
        self.locate = locate
        var starts: [Int] = []
        var total = 0
        for shard in index.shards {
            starts.append(total)
            total += shard.records
        }
        guard total == index.records else {
            throw DatasetError("\(path): the shards hold \(total) records, the index says \(index.records)")
        }
        self.starts = starts
    }

    public var count: Int { index.records }

    /// The `position`th record in index order.
    public func record(_ position: Int) throws -> Record {
        precondition((0..<count).contains(position), "record \(position) of \(count)")
        var shard = starts.count - 1
        while starts[shard] > position { shard -= 1 }
        let row = position - starts[shard]
        let open = try self.shard(shard)
        let features = index.features
        func floats(_ name: String, _ range: Range<Int>) throws -> [Float] {
            try open.file.withBytes(name) { raw in
                range.map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
            }
        }
        let (start, end) = (Int(open.offsets[row]), Int(open.offsets[row + 1]))
        var record = Record(id: open.clips[row], label: Int(open.labels[row]), faceFound: open.faceFound[row] != 0, frames: [],
                            mel: try floats(ShardFormat.mel, start * features.melBands..<end * features.melBands), melFrames: end - start)
        if features.holdsFaceFeatures {
            let width = features.frames * ShardFormat.faceFeatureWidth
            record.faceFeatures = try floats(ShardFormat.faceFeatures, row * width..<(row + 1) * width)
            if features.holdsFlippedFaceFeatures { record.flippedFaceFeatures = try floats(ShardFormat.faceFeaturesFlipped, row * width..<(row + 1) * width) }
        } else {
            let frameBytes = features.frames * features.size * features.size * 3
            record.frames = try open.file.withBytes(ShardFormat.frames) { Array($0[row * frameBytes..<(row + 1) * frameBytes]) }
        }
        return record
    }

    private func shard(_ number: Int) throws -> OpenShard {
        lock.lock()
        defer { lock.unlock() }
        if let open = opened[number] { return open }
        let entry = index.shards[number]
        let path = locate(entry.path)
        let file: SafetensorsFile
        do { file = try SafetensorsFile(path: path) } catch { throw DatasetError("shard \(path): \(error)") }
        let digest = try ShardedSplit.sha256(of: path)
        guard digest == entry.sha256 else {
            throw DatasetError("shard \(path) does not match its index: SHA-256 \(digest), the index says \(entry.sha256) (rebuild the shards)")
        }
        guard let text = file.metadata[ShardFormat.clipsKey], let clips = try? JSONDecoder().decode([String].self, from: Data(text.utf8)),
              clips.count == entry.records else {
            throw DatasetError("shard \(path): its metadata lacks the \(entry.records) clip ids")
        }
        let features = index.features
        var shapes = [(ShardFormat.label, [entry.records]), (ShardFormat.faceFound, [entry.records]), (ShardFormat.melOffsets, [entry.records + 1])]
        if features.holdsFaceFeatures {
            shapes.append((ShardFormat.faceFeatures, [entry.records, features.frames, ShardFormat.faceFeatureWidth]))
            if features.holdsFlippedFaceFeatures { shapes.append((ShardFormat.faceFeaturesFlipped, [entry.records, features.frames, ShardFormat.faceFeatureWidth])) }
        } else {
            shapes.append((ShardFormat.frames, [entry.records, features.frames, features.size, features.size, 3]))
        }
        for (name, shape) in shapes {
            guard let found = file.entries[name] else { throw DatasetError("shard \(path): no tensor '\(name)', which the index implies") }
            guard found.shape == shape else { throw DatasetError("shard \(path): tensor '\(name)' has shape \(found.shape), the index implies \(shape)") }
        }
        let open = OpenShard(file: file, clips: clips, labels: try file.int64s(ShardFormat.label), faceFound: try file.uint8s(ShardFormat.faceFound),
                             offsets: try file.int64s(ShardFormat.melOffsets))
        guard open.offsets.first == 0, zip(open.offsets, open.offsets.dropFirst()).allSatisfy({ $0 <= $1 }),
              Int(open.offsets.last!) * index.features.melBands == (try file.entry(ShardFormat.mel)).count else {
            throw DatasetError("shard \(path): mel_offsets do not cover its mel frames")
        }
        if let label = open.labels.first(where: { !(0..<Int64(index.classes.count)).contains($0) }) {
            throw DatasetError("shard \(path): label \(label) is outside the index's \(index.classes.count) classes (\(index.classes))")
        }
        opened[number] = open
        return open
    }

    /// The file's SHA-256, as lowercase hex, read through a memory map.
    public static func sha256(of path: String) throws -> String {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) }
        catch { throw DatasetError("\(path): cannot read: \(error.localizedDescription)") }
        return SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }
}
