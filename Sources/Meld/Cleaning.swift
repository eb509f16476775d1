import Foundation

/// What decoding a clip found: `ok`, or why it cannot be used (`undecodable`, `truncated`, `silent`,
/// `no_video_stream`, `no_audio_stream`, `zero_duration`), with the numbers that decided it.
public struct ClipProbe: Codable, Sendable, Hashable {
    public var status: String
    public var detail: String?
    public var duration: Double?
    public var width: Int?
    public var height: Int?
    /// Root mean square of the decoded 16 kHz mono audio.
    public var audioRMS: Double?

    public init(status: String, detail: String? = nil, duration: Double? = nil, width: Int? = nil, height: Int? = nil, audioRMS: Double? = nil) {
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

    public init() {}
}

/// One utterance of a manifest: the CSV row, repaired and typed, its clip, and whether it is kept.
public struct ManifestRecord: Codable, Sendable, Equatable {
    public var split: String
    public var dialogue: Int?
    public var utterance: Int?
    public var speaker: String
    public var text: String
    /// The class index of MODEL.md (0 neutral ... 6 disgust).
    public var emotion: Int?
    public var sentiment: String
    public var start: Double?
    public var end: Double?
    /// The clip's path relative to the MELD.Raw root.
    public var clip: String?
    public var clipSHA256: String?
    /// `kept`, or why the utterance was dropped.
    public var status: String
    /// Kept-but-noted conditions: `nonpositive_duration`, `long_duration`, `bad_timestamp`, `text_repaired`.
    public var flags: [String]
    /// `FILE:LINE` of the CSV row.
    public var source: String

    enum CodingKeys: String, CodingKey {
        case split, dialogue, utterance, speaker, text, emotion, sentiment, start, end, clip, status, flags, source
        case clipSHA256 = "clip_sha256"
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
    }

    public struct DialoguePair: Codable, Sendable {
        public var first: String
        public var second: String
        public var sharedUtterances: Int
        /// Shared utterances whose labels differ: "TEXT: LABEL1 / LABEL2".
        public var conflicting: [String]
    }

    public var splits: [String: SplitCounts] = [:]
    /// Clip files by reason: `missing`, `undecodable`, `truncated`, `silent`, `unannotated`, `superseded_copy`, ...
    public var clips: [String: [String]] = [:]
    /// Dialogues of one split that repeat each other's utterances (with conflicting labels listed).
    public var duplicateDialogues: [DialoguePair] = []
    /// Dialogues of different splits that are the same scene: a leak between train and evaluation.
    public var splitOverlaps: [DialoguePair] = []
    /// `FILE:LINE: problem`, for rows that could not be read as MELD rows.
    public var problems: [String] = []

    enum CodingKeys: String, CodingKey {
        case splits, clips, problems
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
    }

    /// - Parameters:
    ///   - csvs: each split's CSV file name and text.
    ///   - clips: every clip file under the root (ignored when `params.checkClips` is false).
    public static func clean(csvs: [Split: (name: String, text: String)], clips: [ClipFile], params: CleaningParams) -> Result {
        var report = CleaningReport()
        var manifests: [Split: [ManifestRecord]] = [:]
        let index = ClipIndex(clips)
        var referenced: Set<String> = []

        for split in Split.allCases {
            guard let (name, text) = csvs[split] else { continue }
            var counts = CleaningReport.SplitCounts()
            var records: [ManifestRecord] = []
            var seen: Set<[Int]> = []
            let rows: [CSV.Record]
            do {
                rows = try CSV.parse(text)
            } catch let error as CSV.ParseError {
                report.problems.append("\(name):\(error.line): \(error.message); the rest of the file cannot be read")
                rows = []
            } catch {
                rows = []
            }
            guard let header = rows.first else {
                report.problems.append("\(name): empty")
                report.splits[split.rawValue] = counts
                continue
            }
            let column = Dictionary(header.fields.enumerated().map { ($1.trimmingCharacters(in: .whitespaces), $0) }, uniquingKeysWith: { a, _ in a })
            let missing = meldColumns.filter { column[$0] == nil && $0 != "Sr No." && $0 != "Season" && $0 != "Episode" }
            if !missing.isEmpty {
                report.problems.append("\(name):\(header.line): header lacks \(missing.joined(separator: ", "))")
                report.splits[split.rawValue] = counts
                continue
            }
            for row in rows.dropFirst() {
                counts.rows += 1
                func field(_ key: String) -> String { column[key].flatMap { $0 < row.fields.count ? row.fields[$0] : nil } ?? "" }
                var record = ManifestRecord(split: split.rawValue, dialogue: nil, utterance: nil, speaker: TextRepair.repair(field("Speaker")),
                                            text: TextRepair.repair(field("Utterance")), emotion: nil, sentiment: field("Sentiment").lowercased(),
                                            start: Timestamp.parse(field("StartTime")), end: Timestamp.parse(field("EndTime")), clip: nil,
                                            clipSHA256: nil, status: "kept", flags: [], source: "\(name):\(row.line)")
                func drop(_ reason: String, _ problem: String? = nil) {
                    record.status = reason
                    if let problem { report.problems.append("\(name):\(row.line): \(problem)") }
                }
                if record.text != field("Utterance") { record.flags.append("text_repaired") }
                if let start = record.start, let end = record.end {
                    if end <= start { record.flags.append("nonpositive_duration") }
                    if end - start > params.maxDuration { record.flags.append("long_duration") }
                } else {
                    record.flags.append("bad_timestamp")
                }
                let dialogue = Cleaner.integer(field("Dialogue_ID")), utterance = Cleaner.integer(field("Utterance_ID"))
                record.dialogue = dialogue
                record.utterance = utterance
                if row.fields.count != header.fields.count {
                    drop("malformed_row", "has \(row.fields.count) fields, the header \(header.fields.count)")
                } else if dialogue == nil || utterance == nil {
                    drop("bad_id", "Dialogue_ID '\(field("Dialogue_ID"))' or Utterance_ID '\(field("Utterance_ID"))' is not a whole number")
                } else if let emotion = Emotion(name: field("Emotion")) {
                    record.emotion = emotion.rawValue
                    let id = "dia\(dialogue!)_utt\(utterance!)"
                    if !seen.insert([dialogue!, utterance!]).inserted {
                        drop("duplicate_row", "\(id) appears twice in \(name)")
                    } else if params.denyList.contains(id) || params.denyList.contains("\(split.rawValue)/\(id)") {
                        drop("denied")
                        for clip in index.copies(split: split, dialogue: dialogue!, utterance: utterance!) {
                            referenced.insert(clip.path)
                            report.clips["denied", default: []].append(clip.path)
                        }
                    } else if params.checkClips {
                        let choice = index.choose(split: split, dialogue: dialogue!, utterance: utterance!, preferFinal: params.preferFinalVideos)
                        for other in choice.others {
                            report.clips["superseded_copy", default: []].append(other.path)
                            referenced.insert(other.path)
                        }
                        if let clip = choice.clip {
                            referenced.insert(clip.path)
                            record.clip = clip.path
                            record.clipSHA256 = clip.digest
                            let status = clip.probe?.status ?? "unprobed"
                            if status != "ok" {
                                drop(status)
                                report.clips[status, default: []].append(clip.path)
                            }
                        } else {
                            let expected = split.clipFolder + "/" + id + ".mp4"
                            drop("clip_missing")
                            report.clips["missing", default: []].append(expected)
                        }
                    }
                } else {
                    drop("unknown_emotion", "unknown emotion '\(field("Emotion"))'")
                }
                if record.status == "kept" {
                    counts.kept += 1
                    counts.labels[Emotion(rawValue: record.emotion!)!.name, default: 0] += 1
                } else {
                    counts.dropped[record.status, default: 0] += 1
                }
                for flag in record.flags { counts.flagged[flag, default: 0] += 1 }
                records.append(record)
            }
            manifests[split] = records
            report.splits[split.rawValue] = counts
        }
        if params.checkClips {
            for clip in clips where !referenced.contains(clip.path) {
                report.clips["unannotated", default: []].append(clip.path)
            }
        }
        for key in report.clips.keys { report.clips[key]!.sort() }
        (report.duplicateDialogues, report.splitOverlaps) = repeatedScenes(manifests)
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
    static func repeatedScenes(_ manifests: [Split: [ManifestRecord]]) -> ([CleaningReport.DialoguePair], [CleaningReport.DialoguePair]) {
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
            for record in dialogues[first]! { labels[record.text] = record.emotion.flatMap { Emotion(rawValue: $0)?.name } ?? "?" }
            var shared = 0, conflicting: [String] = []
            for record in dialogues[second]! {
                guard let label = labels.removeValue(forKey: record.text) else { continue }
                shared += 1
                let other = record.emotion.flatMap { Emotion(rawValue: $0)?.name } ?? "?"
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
