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
/// way it says what the model is (fusion, classes) and what it reads (features, mel frames).
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
            description = .export(try ModelInfo.read(folder + "/" + ModelInfo.fileName))
            self.weights = folder + "/model.safetensors"
        } else if manager.fileExists(atPath: folder + "/" + TrainingSummary.fileName) {
            description = .training(try TrainingSummary.read(folder + "/" + TrainingSummary.fileName))
            self.weights = folder + "/" + weights.fileName
        } else {
            throw ContractError("\(folder): neither an export folder (\(ModelInfo.fileName), model.safetensors) nor a training output "
                                + "(\(TrainingSummary.fileName), \(weights.fileName))")
        }
        self.folder = folder
    }

    /// A training's summary and weights, wherever the pipeline put them.
    public init(summary: String, weights: String) throws {
        description = .training(try TrainingSummary.read(summary))
        self.weights = weights
        folder = (summary as NSString).deletingLastPathComponent
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
