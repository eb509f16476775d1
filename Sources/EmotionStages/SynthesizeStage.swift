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
        var params = SynthesisParams()
        params.seed = values.int("seed")
        let dialogues = values.list("dialogues").compactMap { if case .int(let value) = $0 { return value } else { return nil } }
        guard dialogues.count == 3 else { throw PipelineError(.badParam, "stage '\(stage)': param 'dialogues' must be three counts: train, dev, test") }
        params.dialogues = [.train: dialogues[0], .dev: dialogues[1], .test: dialogues[2]]
        params.utterancesPerDialogue = values.int("utterances")
        params.width = values.int("width")
        params.height = values.int("height")
        params.frameRate = values.int("fps")
        params.labelWeights = values.list("label_weights").compactMap { if case .double(let value) = $0 { return value } else { return nil } }
        params.visualSignal = values.double("visual_signal")
        params.audioSignal = values.double("audio_signal")
        params.plantFaults = values.bool("faults")
        if let problem = params.problem { throw PipelineError(.badParam, "stage '\(stage)': param \(problem)") }
        return params
    }
}
