import Foundation
import Labels
import Media
import Meld
import SeededRandom

/// A file of a corpus's tree as the dataset stages hand it to a layout: where it is, its digest, and the probe's
/// verdict when it is a recording that was probed.
public struct CorpusFile: Sendable {
    /// Path relative to the corpus root, as the pipeline names it (the clip id of every later stage).
    public var path: String
    /// Where to read it.
    public var location: String
    public var digest: String
    public var probe: ClipProbe?
    /// How a `.clip` reference names it: its path relative to the workspace (where the per-clip stages find it).
    public var workspacePath: String

    public init(path: String, location: String, digest: String, probe: ClipProbe?, workspacePath: String? = nil) {
        self.path = path
        self.location = location
        self.digest = digest
        self.probe = probe
        self.workspacePath = workspacePath ?? location
    }

    public var name: String { (path as NSString).lastPathComponent }
    public var stem: String { (name as NSString).deletingPathExtension }
    public var fileExtension: String { (name as NSString).pathExtension.lowercased() }

    /// The file's text, or an error naming it.
    public func text() throws -> String {
        guard let data = FileManager.default.contents(atPath: location) else { throw DatasetError("\(path): cannot be read") }
        guard let text = String(data: data, encoding: .utf8) ?? String(data: data, encoding: .isoLatin1) else { throw DatasetError("\(path): not text") }
        return text
    }
}

/// One annotated recording, as a layout read it from the corpus's names or labels file.
public struct CorpusEntry: Sendable {
    /// The recording; nil when the annotation names a file that is not there (`expectedPath` says which).
    public var file: CorpusFile?
    public var expectedPath: String
    /// The label in the layout's own words (checked against the label set when manifests are assembled).
    public var label: String
    public var speaker: String
    /// The split the corpus or its labels file gives; nil: the split rule decides.
    public var split: Split?
    /// What the split rule deals out when it is not the speaker (IEMOCAP's session, whose two speakers stay together).
    public var group: String?
    public var text = ""
    public var attributes: [String: String] = [:]
    /// The file (or `FILE:LINE`) that annotated it.
    public var source: String
    /// The seconds of `file` that are this recording (a labelled span of a longer one); nil: all of it.
    public var interval: ClosedRange<Double>?
    /// Where the picture comes from when not from `file` (IEMOCAP: the dialogue's video over the utterance's interval).
    public var picture: Picture?
    /// Whether the row's clip is a `.clip` reference to its parts (written beside the manifests, id `clips/...`) rather
    /// than `file` itself: a span of a recording, a picture from another, or every row of a layout that can have either.
    public var referenced = false

    /// A picture taken from another recording than the sound's.
    public struct Picture: Sendable {
        /// nil when the recording named is not there (`expectedPath` says which).
        public var file: CorpusFile?
        public var expectedPath: String
        public var interval: ClosedRange<Double>

        public init(file: CorpusFile?, expectedPath: String, interval: ClosedRange<Double>) {
            self.file = file
            self.expectedPath = expectedPath
            self.interval = interval
        }
    }

    /// The id of the row's `.clip` reference: the recording's path, the span when there is one.
    public var referenceID: String {
        "clips/" + expectedPath + (interval.map { String(format: "@%.3f-%.3f", $0.lowerBound, $0.upperBound) } ?? "") + "." + ClipReference.fileExtension
    }

    public init(file: CorpusFile?, expectedPath: String? = nil, label: String, speaker: String, split: Split? = nil, group: String? = nil,
                text: String = "", attributes: [String: String] = [:], source: String) {
        self.file = file
        self.expectedPath = expectedPath ?? file?.path ?? ""
        self.label = label
        self.speaker = speaker
        self.split = split
        self.group = group
        self.text = text
        self.attributes = attributes
        self.source = source
    }
}

/// A corpus that cannot be read at all (not its layout, a split file that puts one speaker in two splits), in words
/// that name the file and what was expected.
public struct DatasetError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// How a corpus without splits of its own is split: by speaker, so that no voice or face of a test clip was heard or
/// seen in training. Either by ratios (speakers shuffled by `seed`, then dealt test, dev, train), or in `folds`
/// groups, fold `fold` testing one group and tuning on the next, training on the rest.
public struct SplitRule: Sendable, Hashable {
    public var seed = 1
    /// Shares of train, dev and test speakers.
    public var ratios = [0.7, 0.15, 0.15]
    /// 0: split by `ratios`; K: K folds of speakers.
    public var folds = 0
    /// Which fold this run holds out, 1...folds.
    public var fold = 1

    public init() {}

    public var problem: String? {
        if ratios.count != 3 || ratios.contains(where: { !($0 >= 0) }) || ratios[0] <= 0 {
            return "'ratios' must be three non-negative shares (train, dev, test), train above 0"
        }
        if folds == 1 || folds < 0 { return "'folds' must be 0 (split by ratios) or at least 2" }
        if folds > 0 && !(1...folds).contains(fold) { return "'fold' must be 1 to \(folds)" }
        return nil
    }

    /// Each group's split. `shuffled` false keeps the groups' sorted order (IEMOCAP's sessions: fold k tests session k).
    public func assign(_ groups: Set<String>, shuffled: Bool = true) throws -> [String: Split] {
        var order = groups.sorted()
        if shuffled {
            var random = SeededRandom(seed: seed, 0x5EED)
            for index in stride(from: order.count - 1, to: 0, by: -1) {
                order.swapAt(index, Int(random.next() % UInt64(index + 1)))
            }
        }
        var splits: [String: Split] = [:]
        if folds > 0 {
            guard order.count >= folds else {
                throw DatasetError("\(folds) folds need at least \(folds) speakers (or sessions); the corpus has \(order.count): \(order.joined(separator: ", "))")
            }
            for (index, group) in order.enumerated() {
                let part = index % folds + 1
                splits[group] = part == fold ? .test : part == fold % folds + 1 ? .dev : .train
            }
            return splits
        }
        let total = ratios.reduce(0, +), count = order.count
        func share(_ ratio: Double) -> Int { ratio > 0 && count >= 3 ? max(1, Int((Double(count) * ratio / total).rounded())) : 0 }
        let test = share(ratios[2]), dev = min(share(ratios[1]), max(0, count - test - 1))
        for (index, group) in order.enumerated() { splits[group] = index < test ? .test : index < test + dev ? .dev : .train }
        return splits
    }

    /// The rule in words, for the report.
    public func description(of what: String, shuffled: Bool = true) -> String {
        let order = shuffled ? "shuffled with seed \(seed)" : "in sorted order"
        if folds > 0 { return "\(what) \(order), dealt into \(folds) folds; fold \(fold) is test, fold \(fold % folds + 1) dev, the rest train." }
        return "\(what) \(order), then dealt to test, dev and train in the shares " + ratios.map { String(format: "%g", $0) }.joined(separator: " : ")
            + " (train : dev : test); no speaker is in two splits."
    }
}

/// Turns a layout's entries into the manifests and report that `clean` writes for MELD, so every later stage reads one
/// vocabulary: each entry kept or dropped with its reason, every file of the tree accounted for.
public enum CorpusManifests {
    /// - Parameters:
    ///   - dataset: the layout's name, for the report.
    ///   - files: every recording found, annotated or not.
    ///   - findings: files the layout set aside already (bad names, superseded copies), by reason.
    ///   - shuffleGroups: whether the split rule shuffles the groups (false: IEMOCAP's sessions in order).
    public static func assemble(dataset: String, entries: [CorpusEntry], labels: LabelSet, rule: SplitRule, files: [CorpusFile],
                                findings: [String: [String]] = [:], problems: [String] = [], shuffleGroups: Bool = true) throws -> Cleaner.Result {
        var report = CleaningReport()
        report.dataset = dataset
        report.classes = labels
        report.problems = problems
        report.clips = findings

        let given = entries.filter { $0.split != nil }
        var splitOf: [String: Split] = [:]
        if given.isEmpty {
            let what = entries.contains { $0.group != nil } ? "Sessions" : "Speakers"
            let groups = try rule.assign(Set(entries.map { $0.group ?? $0.speaker }), shuffled: shuffleGroups)
            for entry in entries { splitOf[entry.speaker] = groups[entry.group ?? entry.speaker] }
            report.speakerSplits = .init(rule: rule.description(of: what, shuffled: shuffleGroups), speakers: speakersBySplit(splitOf))
        } else {
            guard given.count == entries.count else {
                let missing = entries.first { $0.split == nil }!
                throw DatasetError("\(missing.source): no split, though \(given[0].source) gives one; give every row a split or none")
            }
            var first: [String: CorpusEntry] = [:]
            for entry in entries {
                if let earlier = first[entry.speaker], earlier.split != entry.split {
                    throw DatasetError("speaker '\(entry.speaker)' is in \(earlier.split!.rawValue) (\(earlier.source)) and in \(entry.split!.rawValue) (\(entry.source)): "
                                       + "a speaker in two splits lets a model recognise the person instead of the emotion")
                }
                first[entry.speaker] = first[entry.speaker] ?? entry
                splitOf[entry.speaker] = entry.split
            }
            report.speakerSplits = .init(rule: "Splits as the labels file gives them; no speaker is in two splits (checked).", speakers: speakersBySplit(splitOf))
        }

        var manifests: [Split: [ManifestRecord]] = [:], referenced: Set<String> = [], attachments: [String: Data] = [:]
        for entry in entries.sorted(by: { $0.expectedPath < $1.expectedPath }) {
            let split = splitOf[entry.speaker]!
            var record = ManifestRecord(split: split, speaker: entry.speaker, text: entry.text, label: labels.index(of: entry.label),
                                        clip: entry.file?.path, clipSHA256: entry.file?.digest, status: .kept, source: entry.source,
                                        attributes: entry.attributes.isEmpty ? nil : entry.attributes)
            if let file = entry.file { referenced.insert(file.path) }
            if let picture = entry.picture?.file { referenced.insert(picture.path) }
            if record.label == nil {
                record.status = .excludedLabel
                record.attributes = (record.attributes ?? [:]).merging(["label": entry.label]) { $1 }
            } else if let file = entry.file {
                switch file.probe?.status {
                case nil: record.status = .unprobed; report.clips["unprobed", default: []].append(file.path)
                case .ok?: break
                case .noVideoStream?: record.flags = [.audioOnly]
                case let verdict?: record.status = .clip(verdict); report.clips[verdict.rawValue, default: []].append(file.path)
                }
                if entry.referenced && record.status == .kept { try refer(entry, file, &record, &report, &attachments) }
            } else {
                record.status = .clipMissing
                report.clips["missing", default: []].append(entry.expectedPath)
            }
            manifests[split, default: []].append(record)
        }
        let accounted = referenced.union(findings.values.joined())
        for file in files where !accounted.contains(file.path) { report.clips["unannotated", default: []].append(file.path) }
        for key in report.clips.keys { report.clips[key]!.sort() }
        for split in Split.allCases {
            var counts = CleaningReport.SplitCounts()
            for record in manifests[split] ?? [] { counts.count(record, labels: labels) }
            report.splits[split.rawValue] = counts
        }
        var result = Cleaner.Result(manifests: manifests, report: report)
        result.attachments = attachments
        return result
    }

    /// Makes a kept row's clip its `.clip` reference: the sound from `file` (over the row's span), the picture from
    /// `file` too or from the row's own picture recording. A span past the recording's end drops the row as truncated;
    /// a picture that is missing, does not decode or ends before the span leaves the clip without one (flagged audio
    /// only, its face missing), each said in the report.
    private static func refer(_ entry: CorpusEntry, _ file: CorpusFile, _ record: inout ManifestRecord, _ report: inout CleaningReport,
                              _ attachments: inout [String: Data]) throws {
        func within(_ interval: ClosedRange<Double>?, _ recording: CorpusFile) -> Bool {
            guard let interval, let duration = recording.probe?.duration else { return true }
            return interval.upperBound <= duration + 0.5
        }
        func seconds(_ interval: ClosedRange<Double>) -> String { String(format: "%.3f-%.3f s", interval.lowerBound, interval.upperBound) }
        guard within(entry.interval, file) else {
            record.status = .clip(.truncated)
            report.clips["interval_outside", default: []].append(file.path)
            report.problems.append("\(entry.source): the span \(seconds(entry.interval!)) ends past \(file.path)'s \(String(format: "%.3f", file.probe?.duration ?? 0)) s")
            return
        }
        let sound = ClipReference.Part(file: file.workspacePath, sha256: file.digest, start: entry.interval?.lowerBound, end: entry.interval?.upperBound)
        var picture: ClipReference.Part?
        if let wanted = entry.picture {
            let usable: Set<ClipProbe.Status> = [.ok, .silent, .noAudioStream]
            if let video = wanted.file, let status = video.probe?.status, usable.contains(status), within(wanted.interval, video) {
                picture = ClipReference.Part(file: video.workspacePath, sha256: video.digest, start: wanted.interval.lowerBound, end: wanted.interval.upperBound)
            } else {
                let why = wanted.file == nil ? "is missing" : !within(wanted.interval, wanted.file!) ? "ends before \(seconds(wanted.interval))"
                    : "does not decode (\(wanted.file!.probe?.status.rawValue ?? "not probed"))"
                report.clips["picture_missing", default: []].append(entry.expectedPath)
                report.problems.append("\(entry.source): the picture, \(wanted.expectedPath), \(why): the clip has sound only")
            }
        } else if !record.flags.contains(.audioOnly) {
            picture = sound
        }
        record.flags = picture == nil ? [.audioOnly] : record.flags.filter { $0 != .audioOnly }
        attachments[entry.referenceID] = try ClipReference(video: picture, audio: sound).encoded()
        record.clip = entry.referenceID
    }

    private static func speakersBySplit(_ splits: [String: Split]) -> [String: [String]] {
        var speakers: [String: [String]] = [:]
        for (speaker, split) in splits { speakers[split.rawValue, default: []].append(speaker) }
        return speakers.mapValues { $0.sorted() }
    }

    /// The label set a layout uses: `chosen` (a subset, in the order given) when not empty, else the layout's own.
    public static func labels(_ chosen: [String], layout all: [String], dataset: String) throws -> LabelSet {
        guard !chosen.isEmpty else { return try LabelSet(all) }
        if let unknown = chosen.first(where: { !all.contains($0) }) {
            throw DatasetError("'labels': '\(unknown)' is not one of \(dataset)'s labels (\(all.joined(separator: ", ")))")
        }
        return try LabelSet(chosen)
    }

    /// Of several files holding one recording, the one a layout prefers (the first extension of `preference`), the others
    /// listed as superseded copies.
    public static func preferred(_ copies: [CorpusFile], preference: [String], findings: inout [String: [String]]) -> CorpusFile {
        let ordered = copies.sorted { (preference.firstIndex(of: $0.fileExtension) ?? preference.count, $0.path) < (preference.firstIndex(of: $1.fileExtension) ?? preference.count, $1.path) }
        for other in ordered.dropFirst() { findings["superseded_copy", default: []].append(other.path) }
        return ordered[0]
    }

    /// Refuses a tree in which the layout recognised nothing, saying what it expected and what it found.
    public static func requireRecognised(_ entries: [CorpusEntry], files: [CorpusFile], dataset: String, expected: String) throws {
        guard entries.isEmpty else { return }
        let sample = files.prefix(3).map(\.path).joined(separator: ", ")
        throw DatasetError("no \(dataset) recording among the inputs: expected \(expected); found \(files.count) file(s)" + (files.isEmpty ? "" : " (\(sample)\(files.count > 3 ? ", ..." : ""))"))
    }
}
