import Foundation
import Meld
import Pipeline
import Synthesis

/// `synthesize`: writes a MELD.Raw-layout dataset from nothing but its params (see `DatasetSynthesizer`).
public enum SynthesizeStage {
    public static let kind = StageKind.whole(
        "synthesize", version: 2, summary: "generate a MELD-layout dataset: drawn faces, espeak-ng voices, MELD's CSVs and faults",
        params: [
            ParamSpec("seed", .int, default: .int(1), help: "everything generated follows from it"),
            ParamSpec("dialogues", .list(.int), default: .list([.int(12), .int(3), .int(3)]), help: "dialogues in train, dev, test"),
            ParamSpec("utterances", .int, default: .int(5), help: "utterances per dialogue"),
            ParamSpec("width", .int, default: .int(640), help: "frame width (even); MELD's is 1280"),
            ParamSpec("height", .int, default: .int(360), help: "frame height (even); MELD's is 720"),
            ParamSpec("fps", .int, default: .int(24), help: "frames per second"),
            ParamSpec("label_weights", .list(.double), default: .list(Emotion.meldTrainCounts.map { .double($0) }),
                      help: "relative frequency of neutral, joy, sadness, anger, surprise, fear, disgust"),
            ParamSpec("visual_signal", .double, default: .double(0.7), help: "probability that the face shows the label"),
            ParamSpec("audio_signal", .double, default: .double(0.6), help: "probability that the voice carries the label"),
            ParamSpec("faults", .bool, default: .bool(true), help: "plant MELD's faults (missing, truncated, silent, unannotated clips; legacy text)"),
        ]
    ) { context in
        let params = try synthesisParams(context.params, stage: context.stage)
        try DatasetSynthesizer.write(params, to: context.outputDirectory, threads: ProcessInfo.processInfo.activeProcessorCount)
    }

    static func synthesisParams(_ values: Params, stage: String) throws -> SynthesisParams {
        func bad(_ message: String) -> PipelineError { PipelineError(.badParam, "stage '\(stage)': \(message)") }
        var params = SynthesisParams()
        params.seed = values.int("seed")
        let dialogues = values.list("dialogues").compactMap { if case .int(let value) = $0 { return value } else { return nil } }
        guard dialogues.count == 3, dialogues.allSatisfy({ $0 >= 0 }) else { throw bad("param 'dialogues' must be three counts: train, dev, test") }
        params.dialogues = [.train: dialogues[0], .dev: dialogues[1], .test: dialogues[2]]
        params.utterancesPerDialogue = values.int("utterances")
        guard params.utterancesPerDialogue >= 1 else { throw bad("param 'utterances' must be at least 1") }
        params.width = values.int("width")
        params.height = values.int("height")
        guard params.width >= 64, params.height >= 64, params.width % 2 == 0, params.height % 2 == 0 else {
            throw bad("params 'width' and 'height' must be even and at least 64, not \(params.width)x\(params.height)")
        }
        params.frameRate = values.int("fps")
        guard (1...120).contains(params.frameRate) else { throw bad("param 'fps' must be 1 to 120") }
        params.labelWeights = values.list("label_weights").compactMap { if case .double(let value) = $0 { return value } else { return nil } }
        guard params.labelWeights.count == 7, params.labelWeights.allSatisfy({ $0 >= 0 }), params.labelWeights.reduce(0, +) > 0 else {
            throw bad("param 'label_weights' must be 7 non-negative weights, not all zero")
        }
        params.visualSignal = values.double("visual_signal")
        params.audioSignal = values.double("audio_signal")
        guard (0...1).contains(params.visualSignal), (0...1).contains(params.audioSignal) else {
            throw bad("params 'visual_signal' and 'audio_signal' are probabilities in [0, 1]")
        }
        params.plantFaults = values.bool("faults")
        return params
    }
}
