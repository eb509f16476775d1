import Foundation
import Synthesis
import XCTest

/// A generated MELD-layout folder and a model trained on it for two steps through `emotion run`, with its evaluation
/// on the test split: what the commands that serve a model (`infer`, `watch`) are tested with.
public struct TinyTrainedModel {
    /// MELD.Raw to shards at the smallest useful size: 2 face frames of 32 px, 2 shards per split.
    public static let preprocessing = """
        stages:
          probe: {uses: probe, map: {path: MELD.Raw, glob: "**/*.mp4"}}
          clean: {uses: clean, deps: [MELD.Raw, probe]}
          faces: {uses: faces, map: {path: MELD.Raw, glob: "**/*.mp4"}, params: {frames: 2, size: 32}}
          mel: {uses: mel, map: {path: MELD.Raw, glob: "**/*.mp4"}}
          shards: {uses: shards, map: faces, join: [mel, {stage: clean, under: rows}], params: {shards: 2}}
          shard_index: {uses: shard_index, deps: [shards, clean]}

        """
    public static let pipeline = preprocessing + """
          train: {uses: train, deps: [shard_index, shards], params: {workers: 1, batch: 2, threads: 1, epochs: 1, mel_frames: 16, warmup: 1, max_steps: 2}}
          evaluate: {uses: evaluate, deps: [train, shard_index, shards], params: {splits: [test], bootstrap: 10, threads: 2}}
        """

    public let folder: TemporaryFolder
    public var data: String { folder.file("data") }
    /// The train stage's output, which `--model` takes.
    public var model: String { data + "/out/p/train" }
    public let emotion = productsDirectory() + "/emotion"

    /// A face model that learnt the generated expressions of the clips it trained on: every face shows its clip's label
    /// (every voice too, and no faults), 60 training clips, 20 epochs without augmentation, a 1 s window (`mel_frames`
    /// 100); evaluated on the train split: 37 to 60 of the 60 right (seeds 7 to 10) after some 30 s of training, where
    /// two steps leave a model at chance. What checking a prediction against a clip's label needs. The clips are made
    /// by `emotion synth`, as users make them.
    public static func learnt() throws -> TinyTrainedModel {
        try TinyTrainedModel(pipeline: preprocessing + """
              train: {uses: train, deps: [shard_index, shards], params: {fusion: visual, workers: 1, batch: 8, threads: 2, epochs: 20, mel_frames: 100, warmup: 5, lr_visual: 0.0003, dropout: 0, label_smoothing: 0, flip: 0, brightness: 0, contrast: 0}}
              evaluate: {uses: evaluate, deps: [train, shard_index, shards], params: {splits: [train], bootstrap: 10, threads: 2}}
            """) { root in
            let made = try shell(productsDirectory() + "/emotion", ["synth", "--out", root, "--seed", "7", "--dialogues", "20,3,1", "--utterances", "3",
                                                                   "--width", "320", "--height", "180", "--label-weights", "1,1,1,1,1,1,1",
                                                                   "--visual-signal", "1", "--audio-signal", "1", "--no-faults"])
            XCTAssertEqual(made.status, 0, made.err)
        }
    }

    /// Two training steps on 10 clips: a model of the right form, at chance. With `people` 2, the clips are scenes of a
    /// speaker and a listener (`emotion synth --people 2`).
    public init(people: Int = 1) throws {
        var params = SynthesisParams()
        params.seed = 23
        params.people = people
        params.dialogues = [.train: 2, .dev: 1, .test: 2]
        params.utterancesPerDialogue = 2
        params.width = 320 * people   // the demo's size, at which the drawn faces are found; twice that shows two people's
        params.height = 180 * people
        try self.init(pipeline: Self.pipeline) { try DatasetSynthesizer.write(params, to: $0, threads: 2) }
    }

    /// `generate` writes the MELD.Raw folder at the path it is given.
    private init(pipeline: String, generate: (String) throws -> Void) throws {
        folder = try TemporaryFolder()
        try generate(data + "/MELD.Raw")
        try Data(pipeline.utf8).write(to: URL(fileURLWithPath: folder.file("p.yaml")))
        let run = try shell(emotion, ["run", folder.file("p.yaml"), "--workspace", data])
        XCTAssertEqual(run.status, 0, run.err)
    }

    /// The evaluate stage's predictions.jsonl, one object per clip of the splits it evaluated.
    public func evaluated() throws -> [[String: Any]] {
        try String(contentsOfFile: data + "/out/p/evaluate/predictions.jsonl", encoding: .utf8).split(separator: "\n")
            .map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
    }

    /// The clips played back to back as one H.264/AAC file at `path`; returns the seconds at which each clip starts in
    /// it, and the file's end, as ffprobe reads them.
    @discardableResult
    public func playlist(_ clips: [String], to path: String) throws -> [Double] {
        let list = folder.file(URL(fileURLWithPath: path).lastPathComponent + ".txt")
        try Data(clips.map { "file '\($0)'\n" }.joined().utf8).write(to: URL(fileURLWithPath: list))
        let made = try shell("/usr/bin/ffmpeg", ["-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", list, "-c:v", "libx264", "-preset", "ultrafast",
                                                 "-c:a", "aac", path])
        XCTAssertEqual(made.status, 0, made.err)
        // The concat demuxer starts each file where the one before ended by its duration.
        var starts = [0.0]
        for clip in clips { starts.append(starts.last! + (try Self.duration(clip))) }
        XCTAssertEqual(try Self.duration(path), starts.last!, accuracy: 0.2)
        return starts
    }

    /// A media file's duration in seconds, by ffprobe.
    public static func duration(_ path: String) throws -> Double {
        let probe = try shell("/usr/bin/ffprobe", ["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path])
        return try XCTUnwrap(Double(String(decoding: probe.out, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)), path + ": " + probe.err)
    }

    /// A clip's file in the generated folder.
    public func file(_ clip: String) -> String { data + "/MELD.Raw/" + clip }
}
