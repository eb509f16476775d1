import ArgumentParser
import Foundation
import Synthesis

struct SynthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth", abstract: "Generate a MELD.Raw-layout dataset (drawn faces, synthesized speech) on its own, outside a pipeline.")

    @Option(help: "The folder to create; it must not exist yet.")
    var out: String

    @Option(help: "Everything generated follows from the seed.")
    var seed = 1

    @Option(help: "Dialogues in train, dev and test, e.g. 12,3,3.")
    var dialogues = "12,3,3"

    @Option(help: "Utterances per dialogue.")
    var utterances = 5

    @Option(help: "Frame width (even).")
    var width = 640

    @Option(help: "Frame height (even).")
    var height = 360

    @Option(help: "Probability that the face shows the label.")
    var visualSignal = 0.7

    @Option(help: "Probability that the voice carries the label.")
    var audioSignal = 0.6

    @Flag(help: "Do not plant MELD's faults.")
    var noFaults = false

    @Option(help: "Clips drawn and encoded at once (default: the number of cores).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    func run() throws {
        var params = SynthesisParams()
        params.seed = seed
        let counts = dialogues.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard counts.count == 3 else { throw ValidationError("--dialogues takes three counts: train,dev,test") }
        params.dialogues = [.train: counts[0], .dev: counts[1], .test: counts[2]]
        params.utterancesPerDialogue = utterances
        params.width = width
        params.height = height
        params.visualSignal = visualSignal
        params.audioSignal = audioSignal
        params.plantFaults = !noFaults
        if let problem = params.problem { throw ValidationError(problem) }
        guard !FileManager.default.fileExists(atPath: out) else { throw ValidationError("\(out) already exists") }
        // Built beside the target and renamed into place, so an interrupted run leaves no half dataset under its name.
        let building = out + ".partial-\(getpid())"
        try? FileManager.default.removeItem(atPath: building)
        try DatasetSynthesizer.write(params, to: building, threads: threads)
        try FileManager.default.moveItem(atPath: building, toPath: out)
        let clips = DatasetSynthesizer.plan(params).count
        print("wrote \(out): \(clips) utterances")
    }
}
