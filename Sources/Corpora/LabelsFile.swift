import Foundation
import Labels
import Meld

/// A user's own folder: recordings anywhere under it and one CSV with a `file,label` header and, optionally, `split`
/// (train, dev, test) and `speaker` columns. Paths are relative to the CSV's folder. Labels are the CSV's words, in the
/// order given or sorted. Without `split`, speakers are split by the rule (without `speaker`, each file counts as its own).
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
        for column in ["start", "end"] where columns[column] != nil {
            throw DatasetError("\(csv.path):\(header.line): a '\(column)' column asks for part of a file, which this version does not cut; cut the clips first (ffmpeg -ss START -to END) and list the pieces")
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
            if let line = seen[path] {
                problems.append("\(source): \(relative) is listed again (first at line \(line)); the first is kept")
                continue
            }
            seen[path] = record.line
            var split: Split?
            if let word = field("split"), !word.isEmpty {
                guard let given = Split(rawValue: word.lowercased()) else {
                    throw DatasetError("\(source): split '\(word)' is not train, dev or test")
                }
                split = given
            }
            let speaker = field("speaker").flatMap { $0.isEmpty ? nil : $0 } ?? relative
            entries.append(CorpusEntry(file: byPath[path], expectedPath: path, label: label, speaker: speaker, split: split, source: source))
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
}
