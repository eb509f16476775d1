import Foundation
import Labels

/// One split's `index.json`: which shards hold it (with their SHA-256, checked when a process first opens
/// them), where every clip sits, the label set and its counts, and the features' parameters. Written by the
/// `shard_index` stage; shard paths are relative to the `shards` stage's output folder.
public struct ShardIndex: Codable, Sendable, Equatable {
    public struct Shard: Codable, Sendable, Equatable {
        public var path: String
        public var sha256: String
        public var records: Int

        public init(path: String, sha256: String, records: Int) {
            self.path = path
            self.sha256 = sha256
            self.records = records
        }
    }

    public struct Location: Codable, Sendable, Equatable {
        public var shard: Int
        public var row: Int

        public init(shard: Int, row: Int) {
            self.shard = shard
            self.row = row
        }
    }

    /// What every record of the split shares.
    public struct Features: Codable, Sendable, Equatable {
        /// Face frames per clip (Tv) and the chip's side in pixels.
        public var frames: Int
        public var size: Int
        public var melBands: Int
        /// The `mel` stage's params (`n_fft`, `hop_length`, `top_db`, ...), as it wrote them.
        public var mel: [String: Double]
        /// The `faces` stage's params (`max_side`, `padding`, `predictor`, ...), each as text; nil for shards made
        /// before the faces stage recorded them.
        public var faces: [String: String]?
        /// The `face_features` stage's params (`trunk_sha256`, `init`, `flip`, ...) when the shards hold the face trunk's
        /// features of the frames instead of their pixels; nil for pixels.
        public var faceFeatures: [String: String]?

        public init(frames: Int, size: Int, melBands: Int, mel: [String: Double], faces: [String: String]? = nil,
                    faceFeatures: [String: String]? = nil) {
            self.frames = frames
            self.size = size
            self.melBands = melBands
            self.mel = mel
            self.faces = faces
            self.faceFeatures = faceFeatures
        }

        /// Whether the records hold the trunk's features of their frames (and, with `flip`, of the flipped frames).
        public var holdsFaceFeatures: Bool { faceFeatures != nil }
        public var holdsFlippedFaceFeatures: Bool { faceFeatures?["flip"] == "true" }

        enum CodingKeys: String, CodingKey {
            case frames, size, mel, faces
            case melBands = "mel_bands", faceFeatures = "face_features"
        }
    }

    public var split: String
    public var records: Int
    public var shards: [Shard]
    public var clips: [String: Location]
    /// The classes the shards' `label` indices name, in class order (the cleaning stage's label set).
    public var classes: LabelSet
    /// Records per class name, every class present (zero included).
    public var labels: [String: Int]
    public var features: Features

    public init(split: String, records: Int, shards: [Shard], clips: [String: Location], classes: LabelSet, labels: [String: Int],
                features: Features) {
        self.split = split
        self.records = records
        self.shards = shards
        self.clips = clips
        self.classes = classes
        self.labels = labels
        self.features = features
    }

    /// Training clips per class, in class order.
    public var classCounts: [Int] { classes.map { labels[$0] ?? 0 } }

    public static func read(_ path: String) throws -> ShardIndex {
        guard let data = FileManager.default.contents(atPath: path) else { throw DatasetError("\(path): cannot read the shard index") }
        do { return try JSONDecoder().decode(ShardIndex.self, from: data) }
        catch { throw DatasetError("\(path): not a shard index: \(error)") }
    }
}

/// What went wrong reading a split, naming the file.
public struct DatasetError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Names of the tensors and metadata a shard holds: the `shards` stage writes them, the loader (and a PyTorch
/// user with `safetensors.safe_open`) reads them.
public enum ShardFormat {
    /// uint8 `(n, Tv, H, W, 3)`, RGB, the `faces` stage's chips.
    public static let frames = "frames"
    /// float32 `(n, Tv, 512)`: in shards packed from the `face_features` stage, the face trunk's pooled features of
    /// each frame, in place of `frames`.
    public static let faceFeatures = "face_features"
    /// float32 `(n, Tv, 512)`: the same of the frames flipped left to right (when the stage cached them).
    public static let faceFeaturesFlipped = "face_features_flipped"
    /// The trunk's feature width.
    public static let faceFeatureWidth = 512
    /// float32 `(sum of T, mel_bands)`: every clip's log-mel frames, time-major, one clip after another.
    public static let mel = "mel"
    /// int64 `(n + 1)`: clip i's mel frames are rows `mel_offsets[i] ..< mel_offsets[i + 1]`.
    public static let melOffsets = "mel_offsets"
    /// int64 `(n)`: the class index in the split's label set (`ShardIndex.classes`).
    public static let label = "label"
    /// uint8 `(n)`: 1 when a face was found, 0 for a `no_face` clip (its frames are zeros).
    public static let faceFound = "face_found"
    /// Metadata: a JSON array of the clip ids, row order.
    public static let clipsKey = "clips"
    /// Metadata: the split, frames, size, and the mel and faces stages' params (JSON).
    public static let splitKey = "split"
    public static let framesKey = "frames"
    public static let sizeKey = "size"
    public static let melKey = "mel"
    public static let facesKey = "faces"
    /// Metadata: the face_features stage's params (JSON), in shards of features.
    public static let faceFeaturesKey = "face_features"
}
