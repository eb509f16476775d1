import ArgumentParser
import Foundation
import Meld
import Pipeline
import Stages

struct CleanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clean",
        abstract: "Clean a MELD.Raw folder on its own: SPLIT.jsonl manifests, report.json and report.md.")

    @Argument(help: "The MELD.Raw root (CSVs and clip folders, nested however the tarballs put them).")
    var root: String

    @Option(help: "The folder to write the manifests and reports to.")
    var out: String

    @Option(help: "Utterances longer than this many seconds are flagged.")
    var maxDuration = 30.0

    @Option(help: "A clip id to drop (repeatable): dia125_utt3 or train/dia125_utt3.")
    var deny: [String] = []

    @Flag(help: "In test, let the final_videos_test* copy win over the plain clip.")
    var preferFinalVideos = false

    @Option(help: "Audio quieter than this (dBFS RMS) is silent.")
    var silenceDb = -60.0

    func run() throws {
        guard let walker = FileManager.default.enumerator(atPath: root) else { throw ValidationError("cannot read \(root)") }
        var paths: [String] = []
        for case let path as String in walker where path.hasSuffix(".mp4") || path.hasSuffix("_sent_emo.csv") { paths.append(path) }
        paths.sort()
        var files = [(path: String, location: String, digest: String)](repeating: ("", "", ""), count: paths.count)
        var probes = [ClipProbe?](repeating: nil, count: paths.count)
        let threshold = silenceDb
        let base = root
        files.withUnsafeMutableBufferPointer { fileSlots in
            probes.withUnsafeMutableBufferPointer { probeSlots in
                let (fileBase, probeBase) = (fileSlots, probeSlots)
                DispatchQueue.concurrentPerform(iterations: paths.count) { index in
                    let location = base + "/" + paths[index]
                    fileBase[index] = (paths[index], location, (try? Digest.ofFile(at: location).hex) ?? "")
                    if paths[index].hasSuffix(".mp4") { probeBase[index] = ProbeStage.probeClip(at: location, silenceDB: threshold) }
                }
            }
        }
        var params = CleaningParams()
        params.maxDuration = maxDuration
        params.denyList = Set(deny)
        params.preferFinalVideos = preferFinalVideos
        let byPath = Dictionary(uniqueKeysWithValues: zip(paths, probes).compactMap { path, probe in probe.map { (path, $0) } })
        let result = try CleanStage.clean(files: files, probes: byPath, params: params)
        try CleanStage.write(result, to: out)
        for split in Split.allCases {
            if let counts = result.report.splits[split.rawValue] { print("\(split.rawValue): \(counts.rows) rows, \(counts.kept) kept") }
        }
        print("wrote \(out)/{train,dev,test}.jsonl, report.json, report.md")
    }
}
