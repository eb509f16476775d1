import Foundation
import Labels
import Meld

/// IEMOCAP (Busso et al. 2008): five sessions of two actors each, every dialogue's utterances labelled in
/// `SessionN/dialog/EmoEvaluation/DIALOG.txt` by lines `[START - END]<tab>UTTERANCE<tab>CODE<tab>[V, A, D]`, each
/// utterance's audio in `SessionN/sentences/wav/DIALOG/UTTERANCE.wav`. Speakers are `Ses01F`, `Ses01M`, ...; the
/// split rule deals sessions, so both actors of a session stay on one side (leave-one-session-out with folds 5).
/// The sound is the utterance's WAV (the speaker's own microphone); with `video`, the picture is the dialogue's video,
/// `SessionN/dialog/avi/DivX/DIALOG.avi`, over the utterance's interval, and each row's clip is a `.clip` reference to
/// both (nothing is cut out); without it the faces are missing.
public enum Iemocap {
    public static let name = "iemocap"
    /// The evaluation codes and what they stand for.
    public static let codes = ["neu": "neutral", "hap": "happy", "exc": "excited", "ang": "angry", "sad": "sad", "fru": "frustrated",
                               "sur": "surprised", "fea": "fearful", "dis": "disgusted", "oth": "other", "xxx": "no_agreement"]

    /// The customary protocols: four classes with excitement merged into happiness, or six without the merge.
    public enum Classes: Int, Sendable, CaseIterable {
        case four = 4, six = 6

        public var labels: [String] {
            switch self {
            case .four: return ["neutral", "happy", "angry", "sad"]
            case .six: return ["neutral", "happy", "angry", "sad", "excited", "frustrated"]
            }
        }

        /// The class a code counts as under this protocol (the code's own word when it is outside it).
        public func label(_ code: String) -> String {
            let word = codes[code] ?? code
            return self == .four && word == "excited" ? "happy" : word
        }
    }

    /// One evaluation line read.
    public struct Turn: Sendable, Equatable {
        public var start: Double
        public var end: Double
        public var utterance: String
        public var code: String
        public var vad: [Double]
    }

    /// A `[START - END] UTT CODE [V, A, D]` line, or what is wrong with it.
    public static func parseLine(_ line: String) -> Result<Turn, DatasetError> {
        let fields = line.split(separator: "\t", omittingEmptySubsequences: true).map { $0.trimmingCharacters(in: .whitespaces) }
        guard fields.count == 4, fields[0].hasPrefix("["), fields[0].hasSuffix("]"), fields[3].hasPrefix("["), fields[3].hasSuffix("]") else {
            return .failure(DatasetError("expected [START - END]<tab>UTTERANCE<tab>CODE<tab>[V, A, D], found '\(line)'"))
        }
        let times = fields[0].dropFirst().dropLast().components(separatedBy: " - ").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard times.count == 2, times[0] >= 0, times[1] > times[0] else { return .failure(DatasetError("the interval '\(fields[0])' is not [START - END] with START < END")) }
        let vad = fields[3].dropFirst().dropLast().split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard vad.count == 3 else { return .failure(DatasetError("'\(fields[3])' is not [valence, arousal, dominance]")) }
        guard codes[fields[2]] != nil else { return .failure(DatasetError("'\(fields[2])' is not an IEMOCAP code (\(codes.keys.sorted().joined(separator: ", ")))")) }
        guard fields[1].range(of: #"^Ses0[1-5][FM]_[A-Za-z0-9_]+_[FM][0-9]{3}$"#, options: .regularExpression) != nil else {
            return .failure(DatasetError("'\(fields[1])' is not an utterance name (Ses01F_impro01_F000)"))
        }
        return .success(Turn(start: times[0], end: times[1], utterance: fields[1], code: fields[2], vad: vad))
    }

    public static func read(_ files: [CorpusFile], classes: Classes, rule: SplitRule, video: Bool = false) throws -> Cleaner.Result {
        let byPath = Dictionary(files.map { ($0.path, $0) }, uniquingKeysWith: { first, _ in first })
        let evaluations = files.filter { $0.fileExtension == "txt" && $0.path.contains("/dialog/EmoEvaluation/") }.sorted { $0.path < $1.path }
        let media = files.filter { $0.fileExtension == "wav" || (video && $0.fileExtension == "avi" && $0.path.contains("/dialog/avi/")) }
        var entries: [CorpusEntry] = [], problems: [String] = []
        for evaluation in evaluations {
            // SessionN/dialog/EmoEvaluation/DIALOG.txt: the session folder is the root of that session's files.
            let parts = evaluation.path.components(separatedBy: "/dialog/EmoEvaluation/")
            let sessionFolder = parts[0], session = (sessionFolder as NSString).lastPathComponent
            for (index, line) in try evaluation.text().components(separatedBy: .newlines).enumerated() where line.hasPrefix("[") {
                let source = "\(evaluation.path):\(index + 1)"
                switch parseLine(line) {
                case .failure(let error): problems.append("\(source): \(error.description)")
                case .success(let turn):
                    let dialog = String(turn.utterance[..<turn.utterance.lastIndex(of: "_")!])
                    let path = "\(sessionFolder)/sentences/wav/\(dialog)/\(turn.utterance).wav"
                    let gender = turn.utterance.split(separator: "_").last!.first!
                    var entry = CorpusEntry(file: byPath[path], expectedPath: path, label: classes.label(turn.code),
                                            speaker: String(turn.utterance.prefix(5)) + String(gender), group: session,
                                            attributes: ["session": session, "dialog": dialog, "code": turn.code,
                                                         "valence": String(turn.vad[0]), "arousal": String(turn.vad[1]), "dominance": String(turn.vad[2]),
                                                         "interval": String(format: "%.4f-%.4f", turn.start, turn.end)],
                                            source: source)
                    if video {
                        let avi = "\(sessionFolder)/dialog/avi/DivX/\(dialog).avi"
                        entry.picture = CorpusEntry.Picture(file: byPath[avi], expectedPath: avi, interval: turn.start...turn.end)
                        entry.referenced = true
                    }
                    entries.append(entry)
                }
            }
        }
        if entries.isEmpty && !problems.isEmpty { throw DatasetError("no IEMOCAP evaluation line could be read; the first: \(problems[0])") }
        try CorpusManifests.requireRecognised(entries, files: files, dataset: "IEMOCAP",
                                              expected: "SessionN/dialog/EmoEvaluation/*.txt with [START - END] UTTERANCE CODE [V, A, D] lines, and SessionN/sentences/wav/DIALOG/UTTERANCE.wav")
        var seen: [String: String] = [:]
        entries = entries.filter { entry in
            if let first = seen[entry.expectedPath] {
                problems.append("\(entry.source): \((entry.expectedPath as NSString).lastPathComponent) was already labelled at \(first); the first is kept")
                return false
            }
            seen[entry.expectedPath] = entry.source
            return true
        }
        return try CorpusManifests.assemble(dataset: name, entries: entries, labels: try LabelSet(classes.labels), rule: rule, files: media,
                                            problems: problems, shuffleGroups: false)
    }
}
