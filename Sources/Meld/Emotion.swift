import Foundation
import Labels

/// MELD's seven emotions, in MELD's class order (docs/MODEL.md): the default label set, and the words its CSVs use.
public enum Emotion: Int, CaseIterable, Sendable, Codable, CustomStringConvertible {
    case neutral = 0, joy, sadness, anger, surprise, fear, disgust

    /// The word MELD's CSVs use.
    public var name: String {
        switch self {
        case .neutral: return "neutral"
        case .joy: return "joy"
        case .sadness: return "sadness"
        case .anger: return "anger"
        case .surprise: return "surprise"
        case .fear: return "fear"
        case .disgust: return "disgust"
        }
    }

    public init?(name: String) {
        guard let match = Emotion.allCases.first(where: { $0.name == name.lowercased().trimmingCharacters(in: .whitespaces) }) else { return nil }
        self = match
    }

    /// The sentiment MELD pairs with each emotion most of the time (surprise varies; the generator calls it positive).
    public var sentiment: String {
        switch self {
        case .neutral: return "neutral"
        case .joy, .surprise: return "positive"
        case .sadness, .anger, .fear, .disgust: return "negative"
        }
    }

    public var description: String { name }

    /// MELD's train-split label counts, in class order: the generator's default distribution.
    public static let meldTrainCounts: [Double] = [4710, 1743, 683, 1109, 1205, 268, 271]
}

extension LabelSet {
    /// MELD's seven emotions: the label set when a pipeline names none.
    public static let meld = try! LabelSet(Emotion.allCases.map(\.name))
}

/// MELD's three splits, with the folder names of the clips and the CSV names that annotate them.
public enum Split: String, CaseIterable, Sendable, Codable {
    case train, dev, test

    public var clipFolder: String {
        switch self {
        case .train: return "train_splits"
        case .dev: return "dev_splits_complete"
        case .test: return "output_repeated_splits_test"
        }
    }

    public var csvName: String { "\(rawValue)_sent_emo.csv" }
}

/// MELD's CSV columns, in order.
public let meldColumns = ["Sr No.", "Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID",
                          "Season", "Episode", "StartTime", "EndTime"]
