import Foundation
import Meld
import Pipeline

/// `clean`: MELD's CSVs and clip folders (and the `probe` stage's verdict on each clip) in, one manifest per
/// split and a report out, accounting for every row and every clip (see `Cleaner`). Each clip's rows are also
/// written alone, `rows/CLIP/row.json`, so that a stage joining them per clip (`join: {stage: clean, under:
/// rows}`) reruns for one relabelled clip, not for every clip.
public enum CleanStage {
    public static let kind = StageKind.whole(
        "clean", version: 3, summary: "MELD's CSVs and clips to per-split manifests and a cleaning report", params: CleaningParams.params
    ) { context in
        let (raw, probes) = try collect(context.inputs)
        try write(try clean(files: raw, probes: probes, params: try CleaningParams(context.params, stage: context.stage)), to: context.outputDirectory)
    }

    /// The dataset's files, and the probe's verdicts by clip path (the probe's files are `CLIP/probe.json`).
    static func collect(_ inputs: [StageInput]) throws -> (files: [InputFile], probes: [String: ClipProbe]) {
        var files: [InputFile] = [], probes: [String: ClipProbe] = [:]
        for input in inputs {
            for file in input.files {
                if file.path.hasSuffix("/probe.json") {
                    probes[String(file.path.dropLast("/probe.json".count))] = try JSONDecoder().decode(ClipProbe.self, from: Data(contentsOf: URL(fileURLWithPath: file.location)))
                } else {
                    files.append(file)
                }
            }
        }
        return (files, probes)
    }

    /// Finds the CSVs and clips among `files` (wherever they are nested) and cleans them; `probes` holds the
    /// probe's verdict by clip path.
    public static func clean(files: [InputFile], probes: [String: ClipProbe], params: CleaningParams) throws -> Cleaner.Result {
        var csvs: [Split: (name: String, text: String)] = [:]
        for split in Split.allCases {
            let candidates = files.filter { ($0.path as NSString).lastPathComponent == split.csvName }
                .sorted { ($0.path.split(separator: "/").count, $0.path) < ($1.path.split(separator: "/").count, $1.path) }
            guard let chosen = candidates.first else { continue }
            let bytes = try Data(contentsOf: URL(fileURLWithPath: chosen.location))
            guard let text = String(data: bytes, encoding: .utf8) else {
                throw PipelineError(.stageFailed, "\(chosen.path):\(firstLineNotUTF8(bytes)): not UTF-8 text (MELD's CSVs are UTF-8; convert it, e.g. with iconv -f cp1252 -t utf-8)")
            }
            csvs[split] = (chosen.path, text)
        }
        guard !csvs.isEmpty else {
            throw PipelineError(.stageFailed, "no MELD CSV (train_sent_emo.csv, dev_sent_emo.csv, test_sent_emo.csv) among the inputs")
        }
        let clips = files.filter { $0.path.hasSuffix(".mp4") }.map { ClipFile(path: $0.path, digest: $0.digest.hex, probe: probes[$0.path]) }
        do { return try Cleaner.clean(csvs: csvs, clips: clips, params: params) } catch let error as CleaningError {
            throw PipelineError(.stageFailed, error.description)
        }
    }

    /// `SPLIT.jsonl` (one utterance a line), `report.json` and `report.md`, each written whole and renamed into place.
    public static func write(_ result: Cleaner.Result, to folder: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        for split in Split.allCases {
            var lines = Data()
            for record in result.manifests[split] ?? [] {
                lines.append(try encoder.encode(record))
                lines.append(0x0A)
            }
            try AtomicFile.write(lines, to: folder + "/\(split.rawValue).jsonl")
        }
        var rows: [String: [ManifestRecord]] = [:]
        for split in Split.allCases {
            for record in result.manifests[split] ?? [] { if let clip = record.clip { rows[clip, default: []].append(record) } }
        }
        for (clip, records) in rows {
            let path = folder + "/rows/\(clip)/row.json"
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try AtomicFile.write(try encoder.encode(records), to: path)
        }
        for (path, data) in result.attachments {
            try FileManager.default.createDirectory(atPath: (folder + "/" + path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try AtomicFile.write(data, to: folder + "/" + path)
        }
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        try AtomicFile.write(try encoder.encode(result.report), to: folder + "/report.json")
        try AtomicFile.write(Data(CleaningReportText.markdown(result.report).utf8), to: folder + "/report.md")
    }
}

/// The cleaning report for people.
enum CleaningReportText {
    static func markdown(_ report: CleaningReport) -> String {
        var text = "# \(report.dataset.map { "Dataset (\($0))" } ?? "MELD cleaning") report\n\n| split | rows | kept | dropped | flagged |\n|---|---|---|---|---|\n"
        func list(_ counts: [String: Int]) -> String {
            counts.isEmpty ? "-" : counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        }
        for split in Split.allCases {
            guard let counts = report.splits[split.rawValue] else { continue }
            text += "| \(split.rawValue) | \(counts.rows) | \(counts.kept) | \(list(counts.dropped)) | \(list(counts.flagged)) |\n"
        }
        text += "\n## Kept labels\n\n| split | " + report.classes.joined(separator: " | ") + " |\n|---|" + String(repeating: "---|", count: report.classes.count) + "\n"
        for split in Split.allCases {
            guard let counts = report.splits[split.rawValue] else { continue }
            text += "| \(split.rawValue) | " + report.classes.map { String(counts.labels[$0] ?? 0) }.joined(separator: " | ") + " |\n"
        }
        if let assignment = report.speakerSplits {
            text += "\n## Speakers\n\n\(assignment.rule)\n\n| split | speakers |\n|---|---|\n"
            for split in Split.allCases {
                text += "| \(split.rawValue) | " + (assignment.speakers[split.rawValue] ?? []).joined(separator: ", ") + " |\n"
            }
        }
        text += "\n## Clip files\n\n"
        if report.clips.isEmpty { text += "Every clip file is annotated and usable.\n" }
        for (reason, files) in report.clips.sorted(by: { $0.key < $1.key }) {
            text += "- **\(reason)** (\(files.count)): " + files.prefix(20).map { "`\($0)`" }.joined(separator: ", ") + (files.count > 20 ? ", ..." : "") + "\n"
        }
        for (title, pairs) in [("Dialogues that repeat each other", report.duplicateDialogues), ("Scenes shared between splits", report.splitOverlaps)] where !pairs.isEmpty {
            text += "\n## \(title)\n\n"
            for pair in pairs {
                text += "- \(pair.first) ~ \(pair.second): \(pair.sharedUtterances) identical lines" + (pair.conflicting.isEmpty ? "" : ", \(pair.conflicting.count) with different labels") + "\n"
                for line in pair.conflicting { text += "  - \(line)\n" }
            }
        }
        if !report.problems.isEmpty {
            text += "\n## Rows that could not be read\n\n" + report.problems.map { "- \($0)\n" }.joined()
        }
        return text
    }
}

/// The line (from 1) of the first byte sequence that is not UTF-8.
func firstLineNotUTF8(_ bytes: Data) -> Int {
    for (index, line) in bytes.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() where String(validating: line, as: UTF8.self) == nil {
        return index + 1
    }
    return 1
}
