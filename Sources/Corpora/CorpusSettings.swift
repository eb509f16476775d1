import Foundation

// Each layout's settings: the labels kept, the split rule, and what the layout alone offers.

public struct CremaDSettings: Sendable {
    /// The labels kept, in class order; empty: all six.
    public var labels: [String] = []
    public var split = SplitRule()
    public init() {}
    public var problem: String? { split.problem }
}

public struct RavdessSettings: Sendable {
    public var labels: [String] = []
    public var split = SplitRule()
    public var modality = Ravdess.Modality.auto
    public var channel = Ravdess.Channel.speech
    public init() {}
    public var problem: String? { split.problem }
}

public struct IemocapSettings: Sendable {
    public var classes = 4
    /// The picture from the dialogue's video over each utterance's interval (else the WAVs alone, faces missing).
    public var video = false
    /// Leave-one-session-out: five folds of sessions in order, Session5 tested by default (dev Session1).
    public var split: SplitRule = {
        var rule = SplitRule()
        rule.folds = 5
        rule.fold = 5
        return rule
    }()
    public init() {}
    public var protocolClasses: Iemocap.Classes? { Iemocap.Classes(rawValue: classes) }
    public var problem: String? { protocolClasses == nil ? "'classes' must be 4 or 6 (the customary IEMOCAP protocols), not \(classes)" : split.problem }
}

public struct LabelsFileSettings: Sendable {
    /// The CSV's name (found wherever it is nested; the recordings' paths are relative to its folder).
    public var file = "labels.csv"
    public var labels: [String] = []
    public var split = SplitRule()
    public init() {}
    public var problem: String? { file.isEmpty ? "'file' names the labels CSV" : split.problem }
}
