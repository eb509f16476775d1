import Dataset
import EmotionModel
import Foundation
import Labels

/// Which of a training's two weight files: the best dev epoch's, or the last step's.
public enum ModelWeights: String, CaseIterable, Sendable, Codable {
    case best, last

    /// The file a train stage writes them to.
    public var fileName: String { rawValue + ".safetensors" }
}

/// A folder holding a trained model, as evaluation, export and inference find it: an export (`model_info.json` and
/// `model.safetensors`) or a train stage's output (`train.json` and `best.safetensors` or `last.safetensors`). Either
/// way it says what the model is (fusion, classes) and what it reads (features, mel frames). What it reads is held to
/// sizes a model can have before anything is allocated for it, and an export's weights to the SHA-256 it records.
public struct TrainedModelFolder: Sendable {
    public enum Description: Sendable {
        case export(ModelInfo)
        case training(TrainingSummary)
    }

    public let folder: String
    public let description: Description
    /// The weights' path.
    public let weights: String

    /// The model in `folder`: an export when it holds `model_info.json`, else a training's `weights`.
    public init(_ folder: String, weights: ModelWeights = .best) throws {
        let manager = FileManager.default
        if manager.fileExists(atPath: folder + "/" + ModelInfo.fileName) {
            let info = try ModelInfo.read(folder + "/" + ModelInfo.fileName)
            description = .export(info)
            self.weights = folder + "/model.safetensors"
            try Self.verify(self.weights, recorded: info.files["model.safetensors"], in: folder + "/" + ModelInfo.fileName)
        } else if manager.fileExists(atPath: folder + "/" + TrainingSummary.fileName) {
            description = .training(try TrainingSummary.read(folder + "/" + TrainingSummary.fileName))
            self.weights = folder + "/" + weights.fileName
        } else {
            throw ContractError("\(folder): neither an export folder (\(ModelInfo.fileName), model.safetensors) nor a training output "
                                + "(\(TrainingSummary.fileName), \(weights.fileName))")
        }
        self.folder = folder
        try checkSizes()
    }

    /// A training's summary and weights, wherever the pipeline put them.
    public init(summary: String, weights: String) throws {
        description = .training(try TrainingSummary.read(summary))
        self.weights = weights
        folder = (summary as NSString).deletingLastPathComponent
        try checkSizes()
    }

    /// The largest inputs a model of this project can be made for: a recorded size past them is a damaged or crafted
    /// file, refused before it decides an allocation.
    public static let limits = (frames: 1...256, size: 16...2048, melBands: 1...1024, melFrames: 8...360_000)

    private func checkSizes() throws {
        var problems: [String] = []
        if !Self.limits.melFrames.contains(melFrames) { problems.append("mel_frames \(melFrames) is outside \(Self.limits.melFrames)") }
        if let features {
            if !Self.limits.frames.contains(features.frames) { problems.append("features.frames \(features.frames) is outside \(Self.limits.frames)") }
            if !Self.limits.size.contains(features.size) { problems.append("features.size \(features.size) is outside \(Self.limits.size)") }
            if !Self.limits.melBands.contains(features.melBands) { problems.append("features.mel_bands \(features.melBands) is outside \(Self.limits.melBands)") }
        }
        guard problems.isEmpty else { throw ContractError("\(describedBy): " + problems.joined(separator: "; ")) }
    }

    /// The file's SHA-256 against the one `model_info.json` records for it.
    private static func verify(_ path: String, recorded: ModelInfo.Exported?, in info: String) throws {
        let name = (path as NSString).lastPathComponent
        guard let recorded else { throw ContractError("\(info) records no SHA-256 for \(name)") }
        let digest = try ModelInfo.Exported(file: path).sha256
        guard digest == recorded.sha256 else {
            throw ContractError("\(path): SHA-256 \(digest) differs from the \(recorded.sha256) that \(info) records: the file changed after the export")
        }
    }

    public var settings: TrainingSettings {
        switch description {
        case .export(let info): return info.training
        case .training(let summary): return summary.settings
        }
    }

    public var fusion: Fusion { settings.fusion }
    public var melFrames: Int { settings.melFrames }

    public var classes: LabelSet {
        switch description {
        case .export(let info): return info.classes
        case .training(let summary): return summary.classes
        }
    }

    /// The features of the clips it was trained on; nil for a training on data no pipeline made.
    public var features: ShardIndex.Features? {
        switch description {
        case .export(let info): return info.features
        case .training(let summary): return summary.features
        }
    }

    /// The file that describes the model, for messages.
    public var describedBy: String {
        switch description {
        case .export: return folder + "/" + ModelInfo.fileName
        case .training: return folder + "/" + TrainingSummary.fileName
        }
    }
}
