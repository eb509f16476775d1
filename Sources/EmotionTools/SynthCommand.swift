import ArgumentParser
import EmotionCLI
import EmotionStages
import Foundation
import Meld
import Pipeline
import Synthesis

struct SynthCommand: ParsableCommand, StageOptions {
    static let configuration = CommandConfiguration(
        commandName: "synth", abstract: "Generate a dataset (drawn faces, synthesized speech) in MELD.Raw's layout or a corpus's, as the synthesize stage does.")
    static let kind = SynthesizeStage.kind
    typealias Settings = SynthesisParams
    private static let defaults = SynthesisParams()

    @Option(help: "The folder to create; it must not exist yet.")
    var out: String

    @Option(help: help("seed")) var seed = defaults.seed
    @Option(help: help("dialogues")) var dialogues = CommaSeparated(Split.allCases.map { defaults.dialogues[$0] ?? 0 })
    @Option(help: help("utterances")) var utterances = defaults.utterancesPerDialogue
    @Option(help: help("width")) var width = defaults.width
    @Option(help: help("height")) var height = defaults.height
    @Option(help: help("fps")) var fps = defaults.frameRate
    @Option(help: help("labels")) var labels = CommaSeparated(defaults.labels)
    @Option(help: help("label_weights")) var labelWeights = CommaSeparated(defaults.labelWeights)
    @Option(help: help("visual_signal")) var visualSignal = defaults.visualSignal
    @Option(help: help("audio_signal")) var audioSignal = defaults.audioSignal
    @Flag(inversion: .prefixedNo, help: help("faults")) var faults = defaults.plantFaults
    @Flag(inversion: .prefixedNo, help: help("mask_absent")) var maskAbsent = defaults.maskAbsent
    @Option(help: help("layout")) var layout = defaults.layout.rawValue
    @Option(help: help("actors")) var actors = defaults.actors
    @Option(help: help("takes")) var takes = defaults.takes
    @Option(help: help("people")) var people = defaults.people

    @Option(help: "Clips drawn and encoded at once.")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    var paramValues: [String: ParamValue] {
        ["seed": .int(seed), "dialogues": .list(dialogues.values.map(ParamValue.int)), "utterances": .int(utterances),
         "width": .int(width), "height": .int(height), "fps": .int(fps), "labels": .list(labels.values.map(ParamValue.string)), "label_weights": .list(labelWeights.values.map(ParamValue.double)),
         "visual_signal": .double(visualSignal), "audio_signal": .double(audioSignal), "faults": .bool(faults),
         "mask_absent": .bool(maskAbsent), "layout": .string(layout), "actors": .int(actors), "takes": .int(takes), "people": .int(people)]
    }

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        _ = try settings()
    }

    func run() throws {
        let params = try settings()
        guard !FileManager.default.fileExists(atPath: out) else { throw ValidationError("\(out) already exists") }
        // Built beside the target and renamed into place, so an interrupted run leaves no half dataset under its name.
        let building = out + ".partial-\(getpid())"
        try? FileManager.default.removeItem(atPath: building)
        try DatasetSynthesizer.write(params, to: building, threads: threads)
        try FileManager.default.moveItem(atPath: building, toPath: out)
        print("wrote \(out): \(DatasetSynthesizer.count(params)) utterances")
    }
}

/// A list option written as one comma-separated value (`--dialogues 12,3,3`).
struct CommaSeparated<Element: LosslessStringConvertible>: ExpressibleByArgument {
    var values: [Element]

    init(_ values: [Element]) { self.values = values }

    init?(argument: String) {
        var values: [Element] = []
        for part in argument.split(separator: ",", omittingEmptySubsequences: false) {
            guard let value = Element(part.trimmingCharacters(in: .whitespaces)) else { return nil }
            values.append(value)
        }
        self.values = values
    }

    var defaultValueDescription: String { values.map(String.init(describing:)).joined(separator: ",") }
}
