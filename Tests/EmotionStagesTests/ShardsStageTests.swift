import Dataset
import EmotionStages
import Foundation
import Meld
import Pipeline
import Safetensors
import Synthesis
import TestSupport
import XCTest

/// The sharded cache on a generated MELD-layout folder: every clip's frames and log-mel read back from the
/// shards are the bytes the faces and mel stages wrote; one changed clip, or one relabelled row, rewrites one
/// shard; a shard whose bytes changed is refused by name; Python's safetensors reads a shard as we do.
final class ShardsStageTests: XCTestCase {
    static let pipeline = """
        stages:
          probe: {uses: probe, map: {path: MELD.Raw, glob: "**/*.mp4"}}
          clean: {uses: clean, deps: [MELD.Raw, probe]}
          faces: {uses: faces, map: {path: MELD.Raw, glob: "**/*.mp4"}, params: {frames: 2, size: 48}}
          mel: {uses: mel, map: {path: MELD.Raw, glob: "**/*.mp4"}}
          shards: {uses: shards, map: faces, join: [mel, {stage: clean, under: rows}], params: {shards: 3}}
          shard_index: {uses: shard_index, deps: [shards, clean]}
        """

    private var folder: TemporaryFolder!
    private var data: String { folder.file("data") }

    override func setUpWithError() throws {
        folder = try TemporaryFolder()
        var params = SynthesisParams()
        params.seed = 11
        params.dialogues = [.train: 3, .dev: 1, .test: 1]
        params.utterancesPerDialogue = 2
        params.width = 160
        params.height = 120
        try DatasetSynthesizer.write(params, to: data + "/MELD.Raw", threads: 2)
        try Data(Self.pipeline.utf8).write(to: URL(fileURLWithPath: folder.file("p.yaml")))
    }

    func runPipeline() throws -> RunSummary {
        let graph = try PipelineGraph(try PipelineSpec.load(file: folder.file("p.yaml")), registry: ProjectStages.registry)
        let summary = try Runner(workspace: try Workspace(root: data), graph: graph, progress: Progress(quiet: true)).run()
        XCTAssertFalse(summary.failed, "\(summary.stages.flatMap(\.failures))")
        return summary
    }

    func split(_ name: String) throws -> ShardedSplit {
        try ShardedSplit(index: data + "/out/p/shard_index/\(name)/index.json", root: data + "/out/p/shards")
    }

    func testShardsHoldTheStagesBytesAndAccountForEveryRow() throws {
        _ = try runPipeline()
        var packed = 0
        for name in ["train", "dev", "test"] {
            let split = try split(name)
            packed += split.count
            XCTAssertEqual(split.index.features.frames, 2)
            XCTAssertEqual(split.index.features.size, 48)
            // The face settings the chips were made with travel with them (into an export's model_info.json).
            let faces = split.index.features.faces ?? [:]
            XCTAssertEqual(faces["max_side"], "640", "\(faces)")
            XCTAssertEqual(faces["padding"], "0.25", "\(faces)")
            XCTAssertEqual(faces["size"], "48", "\(faces)")
            XCTAssertTrue(faces["predictor"]?.hasSuffix(".dat") == true, "\(faces)")
            XCTAssertEqual(split.index.labels.values.reduce(0, +), split.count)
            for position in 0..<split.count {
                let record = try split.record(position)
                XCTAssertEqual(split.index.clips[record.id].map { _ in true }, true)
                let frames = try Data(contentsOf: URL(fileURLWithPath: data + "/out/p/faces/\(record.id)/frames.npy"))
                XCTAssertEqual(Data(record.frames), frames.suffix(record.frames.count), record.id)
                let mel = try Data(contentsOf: URL(fileURLWithPath: data + "/out/p/mel/\(record.id)/mel.npy"))
                let bands = split.index.features.melBands
                let stored = mel.suffix(bands * record.melFrames * 4).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
                let timeMajor = (0..<record.melFrames * bands).map { stored[($0 % bands) * record.melFrames + $0 / bands] }
                XCTAssertEqual(record.mel.map(\.bitPattern), timeMajor.map(\.bitPattern), record.id)
            }
        }
        let report = try JSONDecoder().decode([String: [String: Int]].self, from: Data(contentsOf: URL(fileURLWithPath: data + "/out/p/shard_index/report.json")))
        XCTAssertEqual(report.values.map { $0["packed"]! }.reduce(0, +), packed)
        for (split, counts) in report {
            XCTAssertEqual(counts.filter { $0.key != "rows" }.values.reduce(0, +), counts["rows"]!, "\(split): every row packed or dropped with a reason: \(counts)")
        }
        XCTAssertTrue(report.values.contains { $0.keys.contains { $0.hasPrefix("dropped by clean: ") } }, "the planted faults: \(report)")
    }

    func testOneChangedClipOrLabelRewritesOneShard() throws {
        _ = try runPipeline()
        let clip = "train_splits/dia1_utt1.mp4"
        func shardFiles() throws -> [String: Data] { try outputFiles(under: data + "/out/p/shards").filter { $0.key.hasSuffix(".safetensors") } }
        let before = try shardFiles()

        // Another clip's bytes in its place: its faces and mel change, so its bucket reruns, and only it.
        try FileManager.default.removeItem(atPath: data + "/MELD.Raw/" + clip)
        try FileManager.default.copyItem(atPath: data + "/MELD.Raw/train_splits/dia0_utt0.mp4", toPath: data + "/MELD.Raw/" + clip)
        var rerun = try runPipeline()
        XCTAssertEqual(rerun.stage("faces")?.executed, 1)
        XCTAssertEqual(rerun.stage("shards")?.executed, 1)
        var after = try shardFiles()
        var changed = Set(after.keys.filter { after[$0] != before[$0] })
        XCTAssertEqual(changed, ["\(Bucket.name(Bucket.number(of: clip, count: 3), count: 3))/train.safetensors"])

        // A relabelled row: clean reruns (it is whole), one bucket follows.
        let csv = data + "/MELD.Raw/train_sent_emo.csv"
        var lines = try String(contentsOfFile: csv, encoding: .utf8).components(separatedBy: "\n")
        let row = try XCTUnwrap(lines.firstIndex { $0.contains(",1,1,") && $0.range(of: #",[a-z]+,[a-z]+,1,1,"#, options: .regularExpression) != nil })
        let emotion = lines[row].range(of: #",[a-z]+,[a-z]+,1,1,"#, options: .regularExpression)!
        let fields = lines[row][emotion].split(separator: ",")
        let relabelled = fields[0] == "anger" ? "fear" : "anger"
        lines[row].replaceSubrange(emotion, with: ",\(relabelled),\(fields[1]),1,1,")
        try Data(lines.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: csv))
        let previous = after
        rerun = try runPipeline()
        XCTAssertEqual(rerun.stage("clean")?.executed, 1)
        XCTAssertEqual(rerun.stage("shards")?.executed, 1)
        after = try shardFiles()
        changed = Set(after.keys.filter { after[$0] != previous[$0] })
        XCTAssertEqual(changed, ["\(Bucket.name(Bucket.number(of: clip, count: 3), count: 3))/train.safetensors"])
        let split = try split("train")
        let location = try XCTUnwrap(split.index.clips[clip])
        let position = split.index.shards.prefix(location.shard).map(\.records).reduce(0, +) + location.row
        XCTAssertEqual(try split.record(position).label, ["neutral", "joy", "sadness", "anger", "surprise", "fear", "disgust"].firstIndex(of: relabelled))
    }

    func testACorruptedShardIsRefusedByName() throws {
        _ = try runPipeline()
        let split = try split("train")
        let shard = data + "/out/p/shards/" + split.index.shards[0].path
        // The cache's files are read-only links; a copy with one flipped byte takes the original's place.
        var bytes = try Data(contentsOf: URL(fileURLWithPath: shard))
        bytes[bytes.count - 1] ^= 0xFF
        try FileManager.default.removeItem(atPath: shard)
        try bytes.write(to: URL(fileURLWithPath: shard))
        XCTAssertThrowsError(try self.split("train").record(0)) { error in
            XCTAssertTrue("\(error)".contains(shard) && "\(error)".contains("does not match its index"), "\(error)")
        }
    }

    /// Python's safetensors (where importable) reads a shard's tensors and metadata as the loader does.
    func testPythonSafetensorsReadsAShard() throws {
        _ = try runPipeline()
        let python = try shell("/usr/bin/env", ["python3", "-c", "import safetensors, numpy"])
        guard python.status == 0 else { throw XCTSkip("Python's safetensors and numpy are not importable: \(python.err.suffix(200))") }
        let split = try split("train")
        let path = data + "/out/p/shards/" + split.index.shards[0].path
        let script = """
            import json, sys
            from safetensors import safe_open
            with safe_open(sys.argv[1], "np") as f:
                clips = json.loads(f.metadata()["clips"])
                t = {k: f.get_tensor(k) for k in f.keys()}
            o = t["mel_offsets"]
            print(json.dumps({"clips": clips, "labels": t["label"].tolist(), "frames": list(t["frames"].shape),
                              "first_mel_sum": float(t["mel"][o[0]:o[1]].astype("float64").sum()), "frames_sum": int(t["frames"][0].sum())}))
            """
        let result = try shell("/usr/bin/env", ["python3", "-c", script, path])
        XCTAssertEqual(result.status, 0, result.err)
        let read = try JSONSerialization.jsonObject(with: result.out) as! [String: Any]
        let records = try (0..<split.index.shards[0].records).map { try split.record($0) }
        XCTAssertEqual(read["clips"] as? [String], records.map(\.id))
        XCTAssertEqual(read["labels"] as? [Int], records.map(\.label))
        XCTAssertEqual(read["frames"] as? [Int], [records.count, 2, 48, 48, 3])
        XCTAssertEqual(read["first_mel_sum"] as! Double, records[0].mel.reduce(0.0) { $0 + Double($1) }, accuracy: 1e-3)
        XCTAssertEqual(read["frames_sum"] as? Int, records[0].frames.reduce(0) { $0 + Int($1) })
    }
}
