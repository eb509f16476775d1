import ArgumentParser
import EmotionCLI
import EmotionStages
import Foundation
import Meld
import ParallelWork
import Pipeline

struct CleanCommand: ParsableCommand, StageOptions {
    static let configuration = CommandConfiguration(
        commandName: "clean",
        abstract: "Clean a MELD.Raw folder on its own, as the probe and clean stages do: SPLIT.jsonl manifests, report.json and report.md.")
    static let kind = CleanStage.kind
    typealias Settings = CleaningParams
    private static let defaults = CleaningParams()

    @Argument(help: "The MELD.Raw root (CSVs and clip folders, nested however the tarballs put them).")
    var root: String

    @Option(help: "The folder to write the manifests and reports to.")
    var out: String

    @Option(help: help("max_duration")) var maxDuration = defaults.maxDuration
    @Option(help: help("deny")) var deny: [String] = defaults.denyList.sorted()
    @Option(help: help("labels")) var labels = CommaSeparated(defaults.labels)
    @Flag(help: help("prefer_final_videos")) var preferFinalVideos = defaults.preferFinalVideos
    @OptionGroup var probe: ProbeOptions

    var paramValues: [String: ParamValue] {
        ["max_duration": .double(maxDuration), "deny": .list(deny.map(ParamValue.string)), "prefer_final_videos": .bool(preferFinalVideos),
         "labels": .list(labels.values.map(ParamValue.string))]
    }

    func validate() throws {
        _ = try settings()
        _ = try probe.settings()
    }

    func run() throws {
        let settings = try settings(), probing = try probe.settings()
        let threads = ProcessInfo.processInfo.activeProcessorCount
        let files = try StageInput.scan(root, threads: threads).files.filter { $0.path.hasSuffix(".mp4") || $0.path.hasSuffix("_sent_emo.csv") }
        let clips = files.filter { $0.path.hasSuffix(".mp4") }
        let probes = try ParallelWork.map(clips, threads: threads) { ProbeStage.probeClip(at: $0.location, settings: probing) }
        let result = try CleanStage.clean(files: files, probes: Dictionary(uniqueKeysWithValues: zip(clips.map(\.path), probes)), params: settings)
        try CleanStage.write(result, to: out)
        for split in Split.allCases {
            if let counts = result.report.splits[split.rawValue] { print("\(split.rawValue): \(counts.rows) rows, \(counts.kept) kept") }
        }
        print("wrote \(out)/{train,dev,test}.jsonl, report.json, report.md")
    }
}

/// The probe stage's params as options, for commands that probe clips as a step.
struct ProbeOptions: ParsableArguments, StageOptions {
    static let kind = ProbeStage.kind
    typealias Settings = ProbeSettings

    @Option(help: help("silence_db")) var silenceDb = ProbeSettings().silenceDB

    var paramValues: [String: ParamValue] { ["silence_db": .double(silenceDb)] }
}
