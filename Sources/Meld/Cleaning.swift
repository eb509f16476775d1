import Foundation
import Labels

/// What decoding a clip found: `ok`, or why it cannot be used, with the numbers that decided it.
public struct ClipProbe: Codable, Sendable, Hashable {
    /// The verdict on a clip, as the probe writes it and cleaning reads it (`probe.json`'s `status`).
    public enum Status: String, Codable, Sendable, CaseIterable {
        case ok
        /// Decodes, but its audio is quieter than the probe's threshold.
        case silent
        case notFound = "not_found"
        case noVideoStream = "no_video_stream"
        case noAudioStream = "no_audio_stream"
        case undecodable
        case zeroDuration = "zero_duration"
        case truncated
    }

    public var status: Status
    public var detail: String?
    public var duration: Double?
    public var width: Int?
    public var height: Int?
    /// Root mean square of the decoded 16 kHz mono audio.
    public var audioRMS: Double?

    public init(status: Status, detail: String? = nil, duration: Double? = nil, width: Int? = nil, height: Int? = nil, audioRMS: Double? = nil) {
        self.status = status
        self.detail = detail
        self.duration = duration
        self.width = width
        self.height = height
        self.audioRMS = audioRMS
    }
}

/// A clip file found under a MELD.Raw root.
public struct ClipFile: Sendable {
    /// Path relative to the root, as given.
    public var path: String
    public var digest: String
    /// nil when clips were not probed.
    public var probe: ClipProbe?

    public init(path: String, digest: String, probe: ClipProbe?) {
        self.path = path
        self.digest = digest
        self.probe = probe
    }
}

public struct CleaningParams: Sendable {
    /// Utterances longer than this (seconds) are flagged `long_duration`.
    public var maxDuration = 30.0
    /// Clip ids to drop: `dia125_utt3` (any split) or `train/dia125_utt3`.
    public var denyList: Set<String> = []
    /// In test, whether the `final_videos_test*` copy wins over the plain clip when both exist.
    public var preferFinalVideos = false
    /// Whether clips are checked at all (false: annotations only, every row is judged on its CSV alone).
    public var checkClips = true
    /// The classes kept, in class order: a row whose emotion is not among them is dropped (`excluded_label`).
    public var labels = LabelSet.meld.names

    /// `labels` as a label set; valid once `problem` is nil.
    public var labelSet: LabelSet { try! LabelSet(labels) }

    public init() {}

    /// What makes these settings unusable, in words; nil when they can be used.
    public var problem: String? {
        if let problem = LabelSet.problem(labels) { return "'labels': \(problem)" }
        if let unknown = labels.first(where: { Emotion(name: $0) == nil }) {
            return "'labels': '\(unknown)' is not one of MELD's emotions (\(LabelSet.meld))"
        }
        return maxDuration > 0 ? nil : "'max_duration' must be a positive number of seconds, not \(maxDuration)"
    }
}

/// One utterance of a manifest: the CSV row, repaired and typed, its clip, and whether it is kept.
public struct ManifestRecord: Codable, Sendable, Equatable {
    /// Whether a row is kept, or why it was dropped; written as one word (`kept`, `bad_id`, `silent`, ...).
    public enum Status: Codable, Sendable, Hashable, CustomStringConvertible {
        case kept
        /// More or fewer fields than the header.
        case malformedRow
        /// `Dialogue_ID` or `Utterance_ID` is not a whole number.
        case badID
        case unknownEmotion
        /// One of MELD's emotions, but not in the cleaning's label set.
        case excludedLabel
        /// The same dialogue and utterance twice in one CSV.
        case duplicateRow
        /// On the deny list.
        case denied
        case clipMissing
        /// Clips were to be checked but this one was not probed.
        case unprobed
        /// The clip exists but the probe found it unusable.
        case clip(ClipProbe.Status)

        /// Every status, clip verdicts included.
        public static let all: [Status] = [.kept, .malformedRow, .badID, .unknownEmotion, .excludedLabel, .duplicateRow, .denied, .clipMissing, .unprobed]
            + ClipProbe.Status.allCases.filter { $0 != .ok }.map(Status.clip)

        public var description: String {
            switch self {
            case .kept: return "kept"
            case .malformedRow: return "malformed_row"
            case .badID: return "bad_id"
            case .unknownEmotion: return "unknown_emotion"
            case .excludedLabel: return "excluded_label"
            case .duplicateRow: return "duplicate_row"
            case .denied: return "denied"
            case .clipMissing: return "clip_missing"
            case .unprobed: return "unprobed"
            case .clip(let verdict): return verdict.rawValue
            }
        }

        public init(from decoder: Decoder) throws {
            let word = try decoder.singleValueContainer().decode(String.self)
            guard let match = Status.all.first(where: { $0.description == word }) else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "unknown manifest status '\(word)'"))
            }
            self = match
        }

        public func encode(to encoder: Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(description)
        }
    }

    /// Conditions under which a row is kept but noted.
    public enum Flag: String, Codable, Sendable, CaseIterable {
        case nonpositiveDuration = "nonpositive_duration"
        case longDuration = "long_duration"
        case badTimestamp = "bad_timestamp"
        case textRepaired = "text_repaired"
        /// A file with sound and no picture (a speech corpus's WAV): kept for the voice, its face missing.
        case audioOnly = "audio_only"
    }

    public var split: Split
    public var dialogue: Int?
    public var utterance: Int?
    public var speaker: String
    public var text: String
    /// The class index in the cleaning's label set (`CleaningReport.classes`), written under `emotion`.
    public var label: Int?
    public var sentiment: String
    public var start: Double?
    public var end: Double?
    /// The clip's path relative to the MELD.Raw root.
    public var clip: String?
    public var clipSHA256: String?
    public var status: Status
    public var flags: [Flag]
    /// `FILE:LINE` of the CSV row, or the file whose name held the annotation.
    public var source: String
    /// What a corpus says about the recording beyond its label (intensity, sex, sentence, session, ...); nil for MELD.
    public var attributes: [String: String]?

    public init(split: Split, dialogue: Int? = nil, utterance: Int? = nil, speaker: String, text: String, label: Int?, sentiment: String = "",
                start: Double? = nil, end: Double? = nil, clip: String?, clipSHA256: String?, status: Status, flags: [Flag] = [], source: String,
                attributes: [String: String]? = nil) {
        self.split = split
        self.dialogue = dialogue
        self.utterance = utterance
        self.speaker = speaker
        self.text = text
        self.label = label
        self.sentiment = sentiment
        self.start = start
        self.end = end
        self.clip = clip
        self.clipSHA256 = clipSHA256
        self.status = status
        self.flags = flags
        self.source = source
        self.attributes = attributes
    }

    enum CodingKeys: String, CodingKey {
        case split, dialogue, utterance, speaker, text, sentiment, start, end, clip, status, flags, source, attributes
        case label = "emotion", clipSHA256 = "clip_sha256"
    }
}

/// The account of one cleaning: every CSV row and every clip file, kept or dropped with its reason.
public struct CleaningReport: Codable, Sendable {
    public struct SplitCounts: Codable, Sendable {
        public var rows = 0
        public var kept = 0
        public var dropped: [String: Int] = [:]
        public var flagged: [String: Int] = [:]
        public var labels: [String: Int] = [:]

        public init() {}
    }

    public struct DialoguePair: Codable, Sendable {
        public var first: String
        public var second: String
        public var sharedUtterances: Int
        /// Shared utterances whose labels differ: "TEXT: LABEL1 / LABEL2".
        public var conflicting: [String]
    }

    /// The corpus and layout read (`crema-d`, `ravdess`, ...); nil for MELD, whose report came first.
    public var dataset: String?
    /// The label set of the manifests' class indices.
    public var classes = LabelSet.meld
    public var splits: [String: SplitCounts] = [:]
    /// Clip files by reason: `missing`, `undecodable`, `truncated`, `silent`, `unannotated`, `superseded_copy`, ...
    public var clips: [String: [String]] = [:]
    /// Dialogues of one split that repeat each other's utterances (with conflicting labels listed).
    public var duplicateDialogues: [DialoguePair] = []
    /// Dialogues of different splits that are the same scene: a leak between train and evaluation.
    public var splitOverlaps: [DialoguePair] = []
    /// `FILE:LINE: problem`, for rows that could not be read as MELD rows.
    public var problems: [String] = []
    /// How speakers were put in splits, for a corpus that has no splits of its own: the rule in words and each split's speakers.
    public var speakerSplits: SpeakerSplits?

    public struct SpeakerSplits: Codable, Sendable, Equatable {
        public var rule: String
        public var speakers: [String: [String]]

        public init(rule: String, speakers: [String: [String]]) {
            self.rule = rule
            self.speakers = speakers
        }
    }

    public init() {}

    enum CodingKeys: String, CodingKey {
        case dataset, classes, splits, clips, problems
        case speakerSplits = "speaker_splits"
        case duplicateDialogues = "duplicate_dialogues"
        case splitOverlaps = "split_overlaps"
    }
}

/// Turns MELD's CSVs and clip folders into per-split manifests and a report that accounts for every row
/// and every clip. Bad rows are reported with file and line, never fatal.
public enum Cleaner {
    public struct Result: Sendable {
        public var manifests: [Split: [ManifestRecord]]
        public var report: CleaningReport
        /// Other files written beside the manifests, by path: a corpus's `.clip` reference for each row whose clip is
        /// part of a recording (an utterance of a dialogue's video), which the per-clip stages read as a clip.
        public var attachments: [String: Data] = [:]

        public init(manifests: [Split: [ManifestRecord]], report: CleaningReport) {
            self.manifests = manifests
            self.report = report
        }
    }

    /// - Parameters:
    ///   - csvs: each split's CSV file name and text.
    ///   - clips: every clip file under the root (ignored when `params.checkClips` is false).
    /// Throws when a CSV is empty or its header lacks a column the rows need: nothing of that split could be judged,
    /// and a dataset quietly missing a split is worse than a run that stops and says which file.
    public static func clean(csvs: [Split: (name: String, text: String)], clips: [ClipFile], params: CleaningParams) throws -> Result {
        var report = CleaningReport()
        report.classes = params.labelSet
        var manifests: [Split: [ManifestRecord]] = [:]
        var judge = RowJudge(index: ClipIndex(clips), params: params)
        for split in Split.allCases {
            guard let (name, text) = csvs[split] else { continue }
            var counts = CleaningReport.SplitCounts()
            var records: [ManifestRecord] = []
            if let table = try MeldTable(name: name, text: text, problems: &report.problems) {
                var seen: Set<[Int]> = []
                for row in table.rows {
                    let record = judge.judge(row, of: table, split: split, seen: &seen)
                    counts.count(record, labels: params.labelSet)
                    records.append(record)
                }
                manifests[split] = records
                report.problems += judge.takeProblems()
            }
            report.splits[split.rawValue] = counts
        }
        report.clips = judge.clipFindings
        if params.checkClips {
            for clip in clips where !judge.referenced.contains(clip.path) {
                report.clips["unannotated", default: []].append(clip.path)
            }
        }
        for key in report.clips.keys { report.clips[key]!.sort() }
        (report.duplicateDialogues, report.splitOverlaps) = repeatedScenes(manifests, labels: params.labelSet)
        return Result(manifests: manifests, report: report)
    }

    /// A whole number written in digits only (so `../x`, `-1` or `3.0` are refused).
    static func integer(_ text: String) -> Int? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty, trimmed.count < 10, trimmed.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(trimmed)
    }

    /// Pairs of dialogues that are the same scene: they share two identical lines of 15 or more characters,
    /// or eight 5-word runs (which survives a line split differently in each). For each pair, every identical
    /// line is counted and those with different labels listed.
    static func repeatedScenes(_ manifests: [Split: [ManifestRecord]], labels names: LabelSet) -> ([CleaningReport.DialoguePair], [CleaningReport.DialoguePair]) {
        func words(_ text: String) -> [String] {
            text.lowercased().replacingOccurrences(of: "’", with: "'")
                .split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "'") }).map(String.init)
        }
        var dialogues: [String: [ManifestRecord]] = [:]
        for split in Split.allCases {
            for record in manifests[split] ?? [] where record.dialogue != nil {
                dialogues["\(split.rawValue)/dia\(record.dialogue!)", default: []].append(record)
            }
        }
        var longLines: [String: Set<String>] = [:], shingles: [String: Set<String>] = [:]
        for (name, records) in dialogues {
            let all = records.flatMap { words($0.text) }
            if all.count >= 5 {
                for start in 0...(all.count - 5) { shingles[all[start..<start + 5].joined(separator: " "), default: []].insert(name) }
            }
            for record in records where record.text.count >= 15 { longLines[words(record.text).joined(separator: " "), default: []].insert(name) }
        }
        func pairCounts(_ index: [String: Set<String>]) -> [[String]: Int] {
            var counts: [[String]: Int] = [:]
            for names in index.values where names.count > 1 && names.count <= 4 {
                let sorted = names.sorted()
                for i in 0..<sorted.count { for j in i + 1..<sorted.count { counts[[sorted[i], sorted[j]], default: 0] += 1 } }
            }
            return counts
        }
        let byLines = pairCounts(longLines), byShingles = pairCounts(shingles)
        let pairs = Set(byLines.filter { $0.value >= 2 }.keys).union(byShingles.filter { $0.value >= 8 }.keys)
        var duplicates: [CleaningReport.DialoguePair] = [], overlaps: [CleaningReport.DialoguePair] = []
        for pair in pairs.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            // Listed with the training side second, as people say "test dia85 is train dia12".
            let (first, second) = pair[0].hasPrefix("train/") && !pair[1].hasPrefix("train/") ? (pair[1], pair[0]) : (pair[0], pair[1])
            var labels: [String: String] = [:]
            for record in dialogues[first]! { labels[record.text] = record.label.map { names[$0] } ?? "?" }
            var shared = 0, conflicting: [String] = []
            for record in dialogues[second]! {
                guard let label = labels.removeValue(forKey: record.text) else { continue }
                shared += 1
                let other = record.label.map { names[$0] } ?? "?"
                if other != label { conflicting.append("\(record.text): \(label) / \(other)") }
            }
            let entry = CleaningReport.DialoguePair(first: first, second: second, sharedUtterances: shared, conflicting: conflicting.sorted())
            if first.split(separator: "/")[0] == second.split(separator: "/")[0] { duplicates.append(entry) } else { overlaps.append(entry) }
        }
        return (duplicates, overlaps)
    }
}

/// The clips under a root, found by split folder and `diaD_uttU` name wherever the folders are nested.
struct ClipIndex {
    private var plain: [String: ClipFile] = [:]
    private var finals: [String: ClipFile] = [:]

    init(_ clips: [ClipFile]) {
        for clip in clips {
            let parts = clip.path.split(separator: "/").map(String.init)
            guard parts.count >= 2, let split = Split.allCases.first(where: { $0.clipFolder == parts[parts.count - 2] }) else { continue }
            let name = parts.last!
            if name.hasPrefix("final_videos_test") {
                finals[split.rawValue + "/" + name.dropFirst("final_videos_test".count)] = clip
            } else {
                plain[split.rawValue + "/" + name] = clip
            }
        }
    }

    func copies(split: Split, dialogue: Int, utterance: Int) -> [ClipFile] {
        let key = "\(split.rawValue)/dia\(dialogue)_utt\(utterance).mp4"
        return [plain[key], finals[key]].compactMap { $0 }
    }

    /// The clip of an utterance, and the other copies it supersedes.
    func choose(split: Split, dialogue: Int, utterance: Int, preferFinal: Bool) -> (clip: ClipFile?, others: [ClipFile]) {
        let key = "\(split.rawValue)/dia\(dialogue)_utt\(utterance).mp4"
        switch (plain[key], finals[key]) {
        case (let a?, let b?): return preferFinal ? (b, [a]) : (a, [b])
        case (let a?, nil): return (a, [])
        case (nil, let b?): return (b, [])
        case (nil, nil): return (nil, [])
        }
    }
}

extension CleaningReport.SplitCounts {
    public mutating func count(_ record: ManifestRecord, labels names: LabelSet) {
        rows += 1
        if record.status == .kept, let label = record.label {
            kept += 1
            labels[names[label], default: 0] += 1
        } else {
            dropped[record.status.description, default: 0] += 1
        }
        for flag in record.flags { flagged[flag.rawValue, default: 0] += 1 }
    }
}

/// A MELD CSV that cannot be cleaned at all, named with its line.
public struct CleaningError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// One MELD CSV parsed, with its header checked: the rows to judge and where each column is.
struct MeldTable {
    var name: String
    var header: CSV.Record
    var rows: ArraySlice<CSV.Record>
    private var column: [String: Int]

    /// Throws when the file cannot be read as a MELD CSV at all; nil, with the problem recorded, when a quoting fault
    /// ends it before any row.
    init?(name: String, text: String, problems: inout [String]) throws {
        var records: [CSV.Record]
        do {
            records = try CSV.parse(text)
        } catch {
            let line = (error as? CSV.ParseError).map { "\($0.line): \($0.message)" } ?? "\(error)"
            problems.append("\(name):\(line); the rest of the file cannot be read")
            records = []
        }
        guard let header = records.first else {
            if problems.last?.hasPrefix(name + ":") == true { return nil }
            throw CleaningError("\(name): empty; a MELD CSV starts with its header (\(meldColumns.joined(separator: ", ")))")
        }
        let column = Dictionary(header.fields.enumerated().map { ($1.trimmingCharacters(in: .whitespaces), $0) }, uniquingKeysWith: { first, _ in first })
        let optional: Set = ["Sr No.", "Season", "Episode"]
        let missing = meldColumns.filter { column[$0] == nil && !optional.contains($0) }
        guard missing.isEmpty else {
            throw CleaningError("\(name):\(header.line): the header lacks \(missing.joined(separator: ", ")) (it has \(header.fields.joined(separator: ", ")))")
        }
        self.name = name
        self.header = header
        self.column = column
        rows = records.dropFirst()
    }

    /// A row's field by column name; empty when the row is short.
    func field(_ key: String, of row: CSV.Record) -> String {
        column[key].flatMap { $0 < row.fields.count ? row.fields[$0] : nil } ?? ""
    }
}

/// Decides each row's fate: its typed record, kept or dropped with a reason, and which clip files the
/// rows account for (the rest are unannotated).
struct RowJudge {
    let index: ClipIndex
    let params: CleaningParams
    /// Clip files some row accounts for.
    private(set) var referenced: Set<String> = []
    /// Clip files (or expected paths) by finding: `missing`, `denied`, `superseded_copy`, or the probe's verdict.
    private(set) var clipFindings: [String: [String]] = [:]
    /// `FILE:LINE: problem` for rows that are not MELD rows, since the last `takeProblems`.
    private var problems: [String] = []

    init(index: ClipIndex, params: CleaningParams) {
        self.index = index
        self.params = params
    }

    mutating func judge(_ row: CSV.Record, of table: MeldTable, split: Split, seen: inout Set<[Int]>) -> ManifestRecord {
        func field(_ key: String) -> String { table.field(key, of: row) }
        var record = ManifestRecord(split: split, dialogue: Cleaner.integer(field("Dialogue_ID")), utterance: Cleaner.integer(field("Utterance_ID")),
                                    speaker: TextRepair.repair(field("Speaker")), text: TextRepair.repair(field("Utterance")), label: nil,
                                    sentiment: field("Sentiment").lowercased(), start: Timestamp.parse(field("StartTime")),
                                    end: Timestamp.parse(field("EndTime")), clip: nil, clipSHA256: nil, status: .kept, flags: [],
                                    source: "\(table.name):\(row.line)")
        record.flags = flags(of: record, rawText: field("Utterance"))
        func problem(_ text: String) { problems.append("\(table.name):\(row.line): \(text)") }

        guard row.fields.count == table.header.fields.count else {
            problem("has \(row.fields.count) fields, the header \(table.header.fields.count)")
            record.status = .malformedRow
            return record
        }
        guard let dialogue = record.dialogue, let utterance = record.utterance else {
            problem("Dialogue_ID '\(field("Dialogue_ID"))' or Utterance_ID '\(field("Utterance_ID"))' is not a whole number")
            record.status = .badID
            return record
        }
        guard let emotion = Emotion(name: field("Emotion")) else {
            problem("unknown emotion '\(field("Emotion"))'")
            record.status = .unknownEmotion
            return record
        }
        guard let label = params.labelSet.index(of: emotion.name) else {
            record.status = .excludedLabel
            return record
        }
        record.label = label
        let id = "dia\(dialogue)_utt\(utterance)"
        guard seen.insert([dialogue, utterance]).inserted else {
            problem("\(id) appears twice in \(table.name)")
            record.status = .duplicateRow
            return record
        }
        if params.denyList.contains(id) || params.denyList.contains("\(split.rawValue)/\(id)") {
            record.status = .denied
            for clip in index.copies(split: split, dialogue: dialogue, utterance: utterance) { find("denied", clip.path) }
        } else if params.checkClips {
            record.status = attachClip(to: &record, split: split, dialogue: dialogue, utterance: utterance)
        }
        return record
    }

    mutating func takeProblems() -> [String] {
        defer { problems = [] }
        return problems
    }

    private func flags(of record: ManifestRecord, rawText: String) -> [ManifestRecord.Flag] {
        var flags: [ManifestRecord.Flag] = []
        if record.text != rawText { flags.append(.textRepaired) }
        if let start = record.start, let end = record.end {
            if end <= start { flags.append(.nonpositiveDuration) }
            if end - start > params.maxDuration { flags.append(.longDuration) }
        } else {
            flags.append(.badTimestamp)
        }
        return flags
    }

    /// Finds the utterance's clip, records it (and the copies it supersedes), and says whether it is usable.
    private mutating func attachClip(to record: inout ManifestRecord, split: Split, dialogue: Int, utterance: Int) -> ManifestRecord.Status {
        let choice = index.choose(split: split, dialogue: dialogue, utterance: utterance, preferFinal: params.preferFinalVideos)
        for other in choice.others { find("superseded_copy", other.path) }
        guard let clip = choice.clip else {
            find("missing", split.clipFolder + "/dia\(dialogue)_utt\(utterance).mp4", referenced: false)
            return .clipMissing
        }
        record.clip = clip.path
        record.clipSHA256 = clip.digest
        referenced.insert(clip.path)
        guard let verdict = clip.probe?.status else {
            find("unprobed", clip.path)
            return .unprobed
        }
        guard verdict == .ok else {
            find(verdict.rawValue, clip.path)
            return .clip(verdict)
        }
        return .kept
    }

    private mutating func find(_ finding: String, _ path: String, referenced isFile: Bool = true) {
        if isFile { referenced.insert(path) }
        clipFindings[finding, default: []].append(path)
    }
}
