import Foundation
import Meld
import Pipeline
import Synthesis

/// `synthesize`: writes a dataset in MELD.Raw's layout (or a corpus's) from nothing but its params (see `DatasetSynthesizer`).
public enum SynthesizeStage {
    public static let kind = StageKind.whole(
        "synthesize", version: 2, summary: "generate a dataset: drawn faces, espeak-ng voices, in MELD's layout (its CSVs and faults) or a corpus's",
        params: SynthesisParams.params
    ) { context in
        let params = try SynthesisParams(context.params, stage: context.stage)
        try DatasetSynthesizer.write(params, to: context.outputDirectory, threads: ProcessInfo.processInfo.activeProcessorCount)
    }.using(.all)
}
