import Dataset
import Foundation
import Labels
import Safetensors

/// A sharded cache small enough to train on in a test: train and dev splits of clips with 2 frames of 32x32 and
/// 10 to 30 mel frames of 64 bands, in two shards per split, written as the shards and shard_index stages write them.
public enum TinyShards {
    public static let frames = 2, size = 32, bands = 64

    /// Writes `root/N/SPLIT.safetensors` and `root/SPLIT/index.json` (a test split too when `test` is not zero), clip `i`
    /// labelled class `i % classes.count`.
    public static func write(to root: String, train: Int = 12, dev: Int = 5, test: Int = 0, classes: LabelSet = referenceClasses) throws {
        for (split, count) in [("train", train), ("dev", dev), ("test", test)] where count > 0 {
            var shards: [ShardIndex.Shard] = [], clips: [String: ShardIndex.Location] = [:], labels: [String: Int] = [:]
            let halves = [Array(0..<count / 2), Array(count / 2..<count)]
            for (number, members) in halves.enumerated() {
                var writer = SafetensorsWriter()
                var pixels: [UInt8] = [], mel: [Float] = [], offsets: [Int64] = [0], classOf: [Int64] = []
                for clip in members {
                    let seed = clip * 7919 + ["train": 0, "dev": 104_729, "test": 209_459][split]!
                    pixels += (0..<frames * size * size * 3).map { UInt8(truncatingIfNeeded: ($0 * 31 + seed * 17) % 251) }
                    let length = 10 + (clip * 7) % 21
                    mel += (0..<length * bands).map { Float(sin(Double($0 + seed))) * 20 - 40 }
                    offsets.append(offsets.last! + Int64(length))
                    let label = clip % classes.count
                    classOf.append(Int64(label))
                    labels[classes[label], default: 0] += 1
                    clips["\(split)/clip\(clip).mp4"] = .init(shard: number, row: classOf.count - 1)
                }
                writer.add(ShardFormat.frames, dtype: .u8, shape: [members.count, frames, size, size, 3], bytes: Data(pixels))
                writer.add(ShardFormat.mel, dtype: .f32, shape: [Int(offsets.last!), bands], bytes: mel.withUnsafeBytes { Data($0) })
                writer.add(ShardFormat.melOffsets, shape: [members.count + 1], int64s: offsets)
                writer.add(ShardFormat.label, shape: [members.count], int64s: classOf)
                writer.add(ShardFormat.faceFound, dtype: .u8, shape: [members.count], bytes: Data(repeating: 1, count: members.count))
                let ids = members.map { "\(split)/clip\($0).mp4" }
                writer.metadata = [ShardFormat.clipsKey: String(decoding: try JSONEncoder().encode(ids), as: UTF8.self)]
                let path = "\(number)/\(split).safetensors"
                try FileManager.default.createDirectory(atPath: root + "/\(number)", withIntermediateDirectories: true)
                try writer.write(to: root + "/" + path)
                shards.append(.init(path: path, sha256: try ShardedSplit.sha256(of: root + "/" + path), records: members.count))
            }
            let index = ShardIndex(split: split, records: count, shards: shards, clips: clips, classes: classes, labels: labels,
                                   features: .init(frames: frames, size: size, melBands: bands, mel: ["top_db": 80]))
            try FileManager.default.createDirectory(atPath: root + "/" + split, withIntermediateDirectories: true)
            try JSONEncoder().encode(index).write(to: URL(fileURLWithPath: root + "/\(split)/index.json"))
        }
    }

    /// Where the index's shard paths are.
    public static func locations(_ root: String) -> [String: String] {
        var files: [String: String] = [:]
        for number in 0..<2 { for split in ["train", "dev"] { files["\(number)/\(split).safetensors"] = root + "/\(number)/\(split).safetensors" } }
        return files
    }
}
