import Corpora
import Foundation
import Meld
import Pipeline

/// The dataset stages beyond MELD: one kind per corpus layout, each reading the corpus's tree (and the probe's verdict on
/// every recording) and writing what `clean` writes for MELD (per split `SPLIT.jsonl`, `rows/CLIP/row.json`,
/// `report.json`, `report.md`), with the label set and the speakers of each split named, so the stages after it are the
/// same for every corpus.
public enum CorpusStages {
    public static let cremaD = kind("crema_d", summary: "CREMA-D's VideoFlash/AudioWAV names to per-split manifests (6 labels, speaker-independent splits)") {
        (files, settings: CremaDSettings) in try CremaD.read(files, labels: settings.labels, rule: settings.split)
    }
    public static let ravdess = kind("ravdess", summary: "RAVDESS's Actor_NN/MM-VV-EE-II-SS-RR-AA names to per-split manifests (8 labels, speaker-independent splits)") {
        (files, settings: RavdessSettings) in try Ravdess.read(files, labels: settings.labels, rule: settings.split, modality: settings.modality, channel: settings.channel)
    }
    public static let iemocap = kind("iemocap", summary: "IEMOCAP's EmoEvaluation lines and utterance WAVs (with video, the dialogue videos over each utterance too) to per-split manifests (4- or 6-class, sessions as folds)") {
        (files, settings: IemocapSettings) in try Iemocap.read(files, classes: settings.protocolClasses!, rule: settings.split, video: settings.video)
    }
    public static let folder = kind("folder", summary: "a folder of recordings and a file,label[,split,speaker,start,end] CSV to per-split manifests and a .clip reference per row (a file or a span of it)") {
        (files, settings: LabelsFileSettings) in try LabelsFile.read(files, csv: settings.file, labels: settings.labels, rule: settings.split)
    }

    public static let kinds = [cremaD, ravdess, iemocap, folder]

    private static func kind<Settings: StageSettings>(_ name: String, summary: String,
                                                      read: @escaping @Sendable ([CorpusFile], Settings) throws -> Cleaner.Result) -> StageKind {
        StageKind.whole(name, version: 2, summary: summary, params: Settings.params) { context in
            let settings = try Settings(context.params, stage: context.stage)
            let (files, probes) = try CleanStage.collect(context.inputs)
            let root = context.workspace.hasSuffix("/") ? context.workspace : context.workspace + "/"
            let corpus = files.map { file in
                CorpusFile(path: file.path, location: file.location, digest: file.digest.hex, probe: probes[file.path],
                           workspacePath: file.location.hasPrefix(root) ? String(file.location.dropFirst(root.count)) : file.location)
            }
            do {
                try CleanStage.write(try read(corpus, settings), to: context.outputDirectory)
            } catch let error as DatasetError {
                throw PipelineError(.stageFailed, "stage '\(context.stage)': \(error.description)")
            }
        }
    }
}
