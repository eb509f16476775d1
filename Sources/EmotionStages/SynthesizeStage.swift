import Foundation
import Meld
import Pipeline
import Synthesis

/// `synthesize`: writes a MELD.Raw-layout dataset from nothing but its params (see `DatasetSynthesizer`).
public enum SynthesizeStage {
    public static let kind = StageKind.whole(
        "synthesize", version: 2, summary: "generate a MELD-layout dataset: drawn faces, espeak-ng voices, MELD's CSVs and faults",
        params: SynthesisParams.params
    ) { context in
        let params = try SynthesisParams(context.params, stage: context.stage)
        try DatasetSynthesizer.write(params, to: context.outputDirectory, threads: ProcessInfo.processInfo.activeProcessorCount)
    }.using(.all)
}
