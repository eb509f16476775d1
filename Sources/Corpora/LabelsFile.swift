import Foundation
import Labels
import Meld

/// A user's own folder: recordings anywhere under it and one CSV with a `file,label` header and, optionally, `split`
/// (train, dev, test), `speaker`, and `start` and `end` columns (the seconds of the file a row labels, as `12.5`,
/// `0:12.5` or `00:00:12.500`; both empty for the whole file). Paths are relative to the CSV's folder. Labels are the
/// CSV's words, in the order given or sorted. Without `split`, speakers are split by the rule (without `speaker`, each
/// file counts as its own). Every row's clip is a `.clip` reference to its file, or to the span of it.
public enum LabelsFile {
    public static let name = "csv"
    public static let media: Set = ["mp4", "mkv", "mov", "avi", "webm", "flv", "wav", "mp3", "flac", "m4a", "ogg"]

    public static func read(_ files: [CorpusFile], csv csvName: String, labels chosen: [String], rule: SplitRule) throws -> Cleaner.Result {
        let candidates = files.filter { $0.path == csvName || $0.path.hasSuffix("/" + csvName) }.sorted { ($0.path.count, $0.path) < ($1.path.count, $1.path) }
        guard let csv = candidates.first else {
            throw DatasetError("no labels file '\(csvName)' among the inputs (expected a CSV with a file,label header beside the recordings; found \(files.count) file(s))")
        }
        let folder = (csv.path as NSString).deletingLastPathComponent
        let records: [CSV.Record]
        do { records = try CSV.parse(try csv.text()) } catch let error as CSV.ParseError { throw DatasetError("\(csv.path):\(error.line): \(error.message)") }
        guard let header = records.first else { throw DatasetError("\(csv.path): empty; it starts with a header naming file and label") }
        let columns = Dictionary(header.fields.enumerated().map { ($1.trimmingCharacters(in: .whitespaces).lowercased(), $0) }, uniquingKeysWith: { first, _ in first })
        guard columns["file"] != nil, columns["label"] != nil else {
            throw DatasetError("\(csv.path):\(header.line): the header needs 'file' and 'label' columns (it has \(header.fields.joined(separator: ", ")))")
        }
        guard (columns["start"] == nil) == (columns["end"] == nil) else {
            throw DatasetError("\(csv.path):\(header.line): a span needs both a 'start' and an 'end' column (the header has one of them)")
        }
        let byPath = Dictionary(files.map { ($0.path, $0) }, uniquingKeysWith: { first, _ in first })
        var entries: [CorpusEntry] = [], problems: [String] = [], seen: [String: Int] = [:]
        for record in records.dropFirst() {
            let source = "\(csv.path):\(record.line)"
            func field(_ name: String) -> String? {
                columns[name].flatMap { $0 < record.fields.count ? record.fields[$0].trimmingCharacters(in: .whitespaces) : nil }
            }
            guard record.fields.count == header.fields.count else {
                problems.append("\(source): has \(record.fields.count) fields, the header \(header.fields.count)")
                continue
            }
            let relative = field("file")!, label = field("label")!
            guard !relative.isEmpty, !label.isEmpty, !relative.hasPrefix("/"), !relative.split(separator: "/").contains("..") else {
                problems.append("\(source): needs a file (relative, inside the folder) and a label, found '\(relative)', '\(label)'")
                continue
            }
            let path = folder.isEmpty ? relative : folder + "/" + relative
            var interval: ClosedRange<Double>?
            switch (field("start") ?? "", field("end") ?? "") {
            case ("", ""): break
            case (let start, let end):
                guard let from = seconds(start), let to = seconds(end), from >= 0, to > from else {
                    problems.append("\(source): the span '\(start)' to '\(end)' is not two times in seconds (12.5, 0:12.5 or 00:00:12.500), the start before the end")
                    continue
                }
                interval = from...to
            }
            let key = path + (interval.map { "@\($0)" } ?? "")
            if let line = seen[key] {
                problems.append("\(source): \(relative)\(interval == nil ? "" : " over the same span") is listed again (first at line \(line)); the first is kept")
                continue
            }
            seen[key] = record.line
            var split: Split?
            if let word = field("split"), !word.isEmpty {
                guard let given = Split(rawValue: word.lowercased()) else {
                    throw DatasetError("\(source): split '\(word)' is not train, dev or test")
                }
                split = given
            }
            let speaker = field("speaker").flatMap { $0.isEmpty ? nil : $0 } ?? relative
            var entry = CorpusEntry(file: byPath[path], expectedPath: path, label: label, speaker: speaker, split: split,
                                    attributes: interval.map { ["interval": String(format: "%.3f-%.3f", $0.lowerBound, $0.upperBound)] } ?? [:], source: source)
            entry.interval = interval
            entry.referenced = true
            entries.append(entry)
        }
        guard !entries.isEmpty else { throw DatasetError("\(csv.path): no row names a file and a label" + (problems.first.map { "; the first problem: \($0)" } ?? "")) }
        let found = Set(entries.map(\.label)).sorted()
        let labels: LabelSet
        if chosen.isEmpty {
            labels = try LabelSet(found)
        } else {
            if let unknown = chosen.first(where: { !found.contains($0) }) {
                throw DatasetError("'labels': '\(unknown)' is not a label of \(csv.path) (it has \(found.joined(separator: ", ")))")
            }
            labels = try LabelSet(chosen)
        }
        let recordings = files.filter { media.contains($0.fileExtension) }
        return try CorpusManifests.assemble(dataset: name, entries: entries, labels: labels, rule: rule, files: recordings, problems: problems)
    }

    /// `12.5`, `0:12.5` or `00:00:12.500` as seconds; nil when it is none of them.
    static func seconds(_ text: String) -> Double? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard (1...3).contains(parts.count), let last = Double(parts.last!), last.isFinite, last >= 0 else { return nil }
        var total = 0.0
        for part in parts.dropLast() {
            guard let whole = Int(part), whole >= 0 else { return nil }
            total = total * 60 + Double(whole)
        }
        guard parts.count == 1 || last < 60 else { return nil }
        return total * 60 + last
    }
}
