import Foundation
import Synthesis
import TestSupport
import XCTest

/// A generated MELD-layout folder and a model trained on it for two steps through `emotion run`, with its evaluation
/// on the test split: what the commands that serve a model (`infer`, `watch`) are tested with.
struct TinyTrainedModel {
    /// MELD.Raw to shards at the smallest useful size: 2 face frames of 32 px, 2 shards per split.
    static let preprocessing = """
        stages:
          probe: {uses: probe, map: {path: MELD.Raw, glob: "**/*.mp4"}}
          clean: {uses: clean, deps: [MELD.Raw, probe]}
          faces: {uses: faces, map: {path: MELD.Raw, glob: "**/*.mp4"}, params: {frames: 2, size: 32}}
          mel: {uses: mel, map: {path: MELD.Raw, glob: "**/*.mp4"}}
          shards: {uses: shards, map: faces, join: [mel, {stage: clean, under: rows}], params: {shards: 2}}
          shard_index: {uses: shard_index, deps: [shards, clean]}

        """
    static let pipeline = preprocessing + """
          train: {uses: train, deps: [shard_index, shards], params: {workers: 1, batch: 2, threads: 1, epochs: 1, mel_frames: 16, warmup: 1, max_steps: 2}}
          evaluate: {uses: evaluate, deps: [train, shard_index, shards], params: {splits: [test], bootstrap: 10, threads: 2}}
        """

    let folder: TemporaryFolder
    var data: String { folder.file("data") }
    /// The train stage's output, which `--model` takes.
    var model: String { data + "/out/p/train" }
    let emotion = productsDirectory() + "/emotion"

    init() throws {
        folder = try TemporaryFolder()
        var params = SynthesisParams()
        params.seed = 23
        params.dialogues = [.train: 2, .dev: 1, .test: 2]
        params.utterancesPerDialogue = 2
        params.width = 320   // the demo's size, at which the drawn faces are found
        params.height = 180
        try DatasetSynthesizer.write(params, to: data + "/MELD.Raw", threads: 2)
        try Data(Self.pipeline.utf8).write(to: URL(fileURLWithPath: folder.file("p.yaml")))
        let run = try shell(emotion, ["run", folder.file("p.yaml"), "--workspace", data])
        XCTAssertEqual(run.status, 0, run.err)
    }

    /// The evaluate stage's predictions.jsonl, one object per test clip.
    func evaluated() throws -> [[String: Any]] {
        try String(contentsOfFile: data + "/out/p/evaluate/predictions.jsonl", encoding: .utf8).split(separator: "\n")
            .map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
    }

    /// A clip's file in the generated folder.
    func file(_ clip: String) -> String { data + "/MELD.Raw/" + clip }
}
