import Foundation
import Labels
import Meld

/// RAVDESS (Livingstone & Russo 2018): 24 actors speaking and singing two statements, as `Actor_NN/MM-VV-EE-II-SS-RR-AA`
/// `.mp4` (modality 01 audio-visual, 02 video only) or `.wav` (03 audio only). One performance (the name without its
/// modality) may be there in all three; `modality` chooses which copy is read.
public enum Ravdess {
    public static let name = "ravdess"
    public static let emotions = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]
    public static let statements = ["Kids are talking by the door", "Dogs are sitting by the door"]

    /// Which copy of a performance is read.
    public enum Modality: String, Sendable, CaseIterable {
        /// The audio-visual file where there is one, else the audio-only one.
        case auto
        case av, video, audio

        var codes: [String] {
            switch self {
            case .auto: return ["01", "03"]
            case .av: return ["01"]
            case .video: return ["02"]
            case .audio: return ["03"]
            }
        }
    }

    /// Speech, song or both (song has six of the eight emotions: no disgust, no surprise).
    public enum Channel: String, Sendable, CaseIterable {
        case speech, song, both
    }

    public struct Name: Sendable, Equatable {
        public var modality: String
        public var channel: String
        public var emotion: String
        public var intensity: String
        public var statement: Int
        public var repetition: Int
        public var actor: Int
        /// The performance, whatever the file's modality: the name from the vocal channel on.
        public var performance: String
    }

    /// What a RAVDESS name says, or which field is out of range.
    public static func parse(_ stem: String) -> Result<Name, DatasetError> {
        let fields = stem.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
        let numbers = fields.compactMap { $0.count == 2 && $0.allSatisfy(\.isASCII) ? Int($0) : nil }
        guard fields.count == 7, numbers.count == 7 else {
            return .failure(DatasetError("'\(stem)' is not MM-VV-EE-II-SS-RR-AA (seven two-digit fields joined by -)"))
        }
        func range(_ index: Int, _ field: String, _ bounds: ClosedRange<Int>) -> DatasetError? {
            bounds.contains(numbers[index]) ? nil : DatasetError("\(field) '\(fields[index])' is out of range (\(String(format: "%02d", bounds.lowerBound)) to \(String(format: "%02d", bounds.upperBound)))")
        }
        let checks = [range(0, "modality", 1...3), range(1, "vocal channel", 1...2), range(2, "emotion", 1...8), range(3, "intensity", 1...2),
                      range(4, "statement", 1...2), range(5, "repetition", 1...2), range(6, "actor", 1...24)]
        if let error = checks.compactMap({ $0 }).first { return .failure(error) }
        if numbers[2] == 1 && numbers[3] == 2 { return .failure(DatasetError("emotion 01 (neutral) has no strong intensity (02)")) }
        if numbers[1] == 2 && numbers[2] >= 7 { return .failure(DatasetError("song (vocal channel 02) has no emotion \(fields[2]) (\(emotions[numbers[2] - 1]))")) }
        return .success(Name(modality: fields[0], channel: numbers[1] == 1 ? "speech" : "song", emotion: emotions[numbers[2] - 1],
                             intensity: numbers[3] == 1 ? "normal" : "strong", statement: numbers[4], repetition: numbers[5], actor: numbers[6],
                             performance: fields.dropFirst().joined(separator: "-")))
    }

    public static func read(_ files: [CorpusFile], labels chosen: [String], rule: SplitRule, modality: Modality, channel: Channel) throws -> Cleaner.Result {
        let media = files.filter { ["mp4", "wav"].contains($0.fileExtension) }.sorted { $0.path < $1.path }
        var findings: [String: [String]] = [:], problems: [String] = []
        var byPerformance: [String: [(CorpusFile, Name)]] = [:]
        for file in media {
            switch parse(file.stem) {
            case .success(let name):
                let expected = name.modality == "03" ? "wav" : "mp4"
                guard file.fileExtension == expected else {
                    findings["bad_name", default: []].append(file.path)
                    problems.append("\(file.path): modality \(name.modality) is a .\(expected) file, not .\(file.fileExtension)")
                    continue
                }
                if channel != .both && name.channel != channel.rawValue {
                    findings["other_channel", default: []].append(file.path)
                } else if !modality.codes.contains(name.modality) {
                    findings["other_modality", default: []].append(file.path)
                } else {
                    byPerformance[name.performance, default: []].append((file, name))
                }
            case .failure(let error):
                findings["bad_name", default: []].append(file.path)
                problems.append("\(file.path): \(error.description)")
            }
        }
        let entries = byPerformance.keys.sorted().map { key -> CorpusEntry in
            // Audio-visual before audio only; the other copy is superseded.
            let copies = byPerformance[key]!.sorted { ($0.1.modality, $0.0.path) < ($1.1.modality, $1.0.path) }
            for other in copies.dropFirst() { findings["superseded_copy", default: []].append(other.0.path) }
            let (file, name) = copies[0]
            return CorpusEntry(file: file, label: name.emotion, speaker: String(format: "Actor_%02d", name.actor), text: statements[name.statement - 1],
                               attributes: ["modality": ["01": "audio-visual", "02": "video-only", "03": "audio-only"][name.modality]!, "channel": name.channel,
                                            "intensity": name.intensity, "repetition": String(name.repetition), "sex": name.actor % 2 == 1 ? "male" : "female"],
                               source: file.path)
        }
        try CorpusManifests.requireRecognised(entries, files: files, dataset: "RAVDESS",
                                              expected: "Actor_NN/MM-VV-EE-II-SS-RR-AA.{mp4,wav} names (e.g. Actor_01/01-01-03-02-01-01-01.mp4) of modality \(modality.rawValue), channel \(channel.rawValue)")
        return try CorpusManifests.assemble(dataset: name, entries: entries, labels: try CorpusManifests.labels(chosen, layout: emotions, dataset: "RAVDESS"),
                                            rule: rule, files: media, findings: findings, problems: problems)
    }
}
