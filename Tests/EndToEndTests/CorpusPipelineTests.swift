import Foundation
import Labels
import Media
import ModelContract
import TestSupport
import XCTest

/// Every corpus layout end to end: the generator writes it (`emotion synth --layout`), the project's own pipeline file
/// for it (`pipelines/LAYOUT.yaml`, sized down with `--var`) takes it through clean, faces, mel, shards, training,
/// evaluation, the results table and the export; the manifests agree with the generator's truth and keep every speaker
/// in one split. And the real CREMA-D FLV clips of `../shared` through the same pipeline's preprocessing.
final class CorpusPipelineTests: XCTestCase {
    private static let pipelines: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.appendingPathComponent("pipelines").path
    }()

    /// Small enough to train every model in seconds.
    private static let small = ["frames=2", "size=32", "epochs=1", "fuse_epochs=1", "workers=1", "batch=4", "mel_frames=64", "warmup=1", "shards=2"]

    /// Workspaces kept until the test ends.
    private var workspaces: [TemporaryFolder] = []

    /// Generates `layout` into the workspace folder `folder` and runs `pipeline` on it; returns the pipeline's outputs
    /// folder and the generated data's.
    private func run(layout: String, folder: String, pipeline: String, synth: [String] = [], vars: [String] = [],
                     before: (String) throws -> Void = { _ in }) throws -> (out: String, data: String) {
        let workspace = try TemporaryFolder()
        workspaces.append(workspace)
        let emotion = productsDirectory() + "/emotion"
        let made = try shell(emotion, ["synth", "--layout", layout, "--out", workspace.file(folder), "--seed", "3", "--actors", "4", "--takes", "1",
                                       "--width", "128", "--height", "96", "--fps", "8"] + synth)
        XCTAssertEqual(made.status, 0, made.err)
        try before(workspace.file(folder))
        let ran = try shell(emotion, ["run", CorpusPipelineTests.pipelines + "/\(pipeline).yaml", "--workspace", workspace.path, "--until", "results", "--until", "export"]
                            + (CorpusPipelineTests.small + vars).flatMap { ["--var", $0] })
        XCTAssertEqual(ran.status, 0, ran.err)
        return (workspace.file("out/\(pipeline)"), workspace.file(folder))
    }

    private func json(_ path: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
    }

    /// The kept rows of every split, with the generator's truth checked against them; returns the label set.
    @discardableResult
    private func checkManifests(_ out: String, data: String, classes expected: [String], kept: Int, clean: String = "clean",
                                export: String = "export") throws -> LabelSet {
        let report = try json(out + "/\(clean)/report.json")
        let classes = try LabelSet(report["classes"] as! [String])
        XCTAssertEqual(classes.names, expected)
        var truth: [String: String] = [:]
        for line in try String(contentsOfFile: data + "/synthesis/truth.csv", encoding: .utf8).split(separator: "\n").dropFirst() {
            let fields = line.split(separator: ",").map(String.init)
            truth[fields[0]] = fields[2]
        }
        var splitOf: [String: String] = [:], count = 0
        for split in ["train", "dev", "test"] {
            for line in try String(contentsOfFile: out + "/\(clean)/\(split).jsonl", encoding: .utf8).split(separator: "\n") {
                let record = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
                guard record["status"] as? String == "kept", let clip = record["clip"] as? String else { continue }
                count += 1
                // A `.clip` reference's id names the recording it refers to.
                let file = clip.hasPrefix("clips/") ? String(clip.dropFirst("clips/".count).dropLast(".clip".count)) : clip
                XCTAssertEqual(classes[record["emotion"] as! Int], truth[file], clip)
                let speaker = record["speaker"] as! String
                XCTAssertEqual(splitOf[speaker, default: split], split, "\(speaker) is in two splits")
                splitOf[speaker] = split
            }
        }
        XCTAssertEqual(count, kept)
        XCTAssertEqual(Set(splitOf.values), ["train", "dev", "test"])
        let info = try ModelInfo.read(out + "/\(export)/model_info.json")
        XCTAssertEqual(info.classes, classes)
        return classes
    }

    private func models(_ out: String) throws -> [String] {
        (try json(out + "/results/results.json")["models"] as! [[String: Any]]).map { $0["model"] as! String }
    }

    func testCremaD() throws {
        let (out, data) = try run(layout: "crema-d", folder: "CREMA-D", pipeline: "crema-d")
        try checkManifests(out, data: data, classes: ["anger", "disgust", "fear", "happy", "neutral", "sad"], kept: 24)
        XCTAssertEqual(try models(out), ["visual", "audio", "concat", "transformer", "cross_attention"])
    }

    func testRavdessWithAFileWhoseNameIsOutOfRange() throws {
        let (out, data) = try run(layout: "ravdess", folder: "RAVDESS", pipeline: "ravdess") { root in
            try FileManager.default.copyItem(atPath: root + "/Actor_01/01-01-01-01-01-01-01.mp4", toPath: root + "/Actor_01/01-01-09-01-01-01-01.mp4")
        }
        try checkManifests(out, data: data, classes: ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"], kept: 28)
        let report = try json(out + "/clean/report.json")
        XCTAssertEqual((report["clips"] as! [String: [String]])["bad_name"], ["Actor_01/01-01-09-01-01-01-01.mp4"])
        XCTAssertEqual(report["problems"] as? [String], ["Actor_01/01-01-09-01-01-01-01.mp4: emotion '09' is out of range (01 to 08)"])
    }

    /// Leave one session out in one graph: three sessions (six actors) in three folds, each fold's stages on their own,
    /// and the results pooled over them.
    func testIemocapFourClassFolds() throws {
        let (out, data) = try run(layout: "iemocap", folder: "IEMOCAP", pipeline: "iemocap", synth: ["--actors", "6"], vars: ["folds=3", "fold=1,2,3"])
        var tested: [String] = []
        for fold in 1...3 {
            // Fold K tests SessionK, tunes on the next session and trains on the other.
            try checkManifests(out, data: data, classes: ["neutral", "happy", "angry", "sad"], kept: 24, clean: "clean@\(fold)", export: "export@\(fold)")
            let speakers = (try json(out + "/clean@\(fold)/report.json")["speaker_splits"] as! [String: Any])["speakers"] as! [String: [String]]
            let next = fold % 3 + 1, other = 6 - fold - next
            XCTAssertEqual(speakers, ["train": ["Ses0\(other)F", "Ses0\(other)M"], "dev": ["Ses0\(next)F", "Ses0\(next)M"], "test": ["Ses0\(fold)F", "Ses0\(fold)M"]])
            tested += try String(contentsOfFile: out + "/clean@\(fold)/test.jsonl", encoding: .utf8).split(separator: "\n").compactMap { line in
                let record = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
                return record["status"] as? String == "kept" ? record["clip"] as? String : nil
            }
        }
        XCTAssertEqual(tested.count, 24, "every kept utterance is tested in exactly one fold")
        XCTAssertEqual(Set(tested).count, 24)
        // Sound only: the voice model alone is trained, evaluated and exported, once per fold, and pooled.
        XCTAssertEqual(try models(out), ["audio (run 1-0)", "audio (run 2-0)", "audio (run 3-0)"])
        let aggregates = try json(out + "/results/results.json")["aggregates"] as! [[String: Any]]
        XCTAssertEqual(aggregates.count, 1)
        XCTAssertEqual(aggregates[0]["runs"] as? [String], ["1-0", "2-0", "3-0"])
        XCTAssertEqual(aggregates[0]["pooled_clips"] as? Int, 24, "the pooled figures are over every fold's test clips")
        let markdown = try String(contentsOfFile: out + "/results/results.md", encoding: .utf8)
        XCTAssertTrue(markdown.contains("Not run: visual, concat, transformer, cross_attention: the utterance WAVs have no faces"), markdown)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/train@visual-1-0"))
    }

    /// Cross-validation with faces: two of three speaker folds in one graph, every model per fold, each fold's exported
    /// model its own, and the results pooled and paired fold by fold.
    func testCremaDInFolds() throws {
        let (out, data) = try run(layout: "crema-d", folder: "CREMA-D", pipeline: "crema-d-folds", vars: ["folds=3", "fold=1,2"])
        var testSpeakers: [[String]] = []
        for fold in 1...2 {
            try checkManifests(out, data: data, classes: ["anger", "disgust", "fear", "happy", "neutral", "sad"], kept: 24, clean: "clean@\(fold)",
                               export: "export@\(fold)")
            let speakers = (try json(out + "/clean@\(fold)/report.json")["speaker_splits"] as! [String: Any])["speakers"] as! [String: [String]]
            testSpeakers.append(speakers["test"]!)
        }
        XCTAssertTrue(Set(testSpeakers[0]).isDisjoint(with: testSpeakers[1]), "each fold tests other actors: \(testSpeakers)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/clean@3"), "fold 3 is not run")
        let results = try json(out + "/results/results.json")
        let aggregates = results["aggregates"] as! [[String: Any]]
        XCTAssertEqual(aggregates.map { $0["model"] as! String }, ["visual", "audio", "concat", "transformer", "cross_attention"])
        XCTAssertEqual(Set(aggregates.map { $0["runs"] as! [String] }), [["1-0", "2-0"]])
        let tested = testSpeakers.flatMap { $0 }.count
        XCTAssertEqual(Set(aggregates.map { $0["pooled_clips"] as! Int }), [tested * 6], "both folds' test clips pooled (six per actor)")
        XCTAssertEqual((results["run_comparisons"] as! [[String: Any]]).count, 6)
        XCTAssertEqual((results["deployments"] as! [[String: Any]]).count, 2, "one exported model per fold")
    }

    /// IEMOCAP with faces: every utterance's picture from its dialogue's video over its interval, its sound from its WAV,
    /// through all five models in three session folds; the faces are found in the dialogue videos.
    func testIemocapWithTheDialogueVideosInFolds() throws {
        let (out, data) = try run(layout: "iemocap", folder: "IEMOCAP", pipeline: "iemocap-av", synth: ["--actors", "6", "--width", "256", "--height", "192"],
                                  vars: ["folds=3", "fold=1,2,3"])
        for fold in 1...3 {
            try checkManifests(out, data: data, classes: ["neutral", "happy", "angry", "sad"], kept: 24, clean: "clean@\(fold)", export: "export@\(fold)")
        }
        let references = try FileManager.default.subpathsOfDirectory(atPath: out + "/clip_references/clips").filter { $0.hasSuffix(".clip") }
        XCTAssertEqual(references.count, 24)
        var found = 0
        for reference in references {
            let clip = try JSONDecoder().decode(ClipReference.self, from: Data(contentsOf: URL(fileURLWithPath: out + "/clip_references/clips/" + reference)))
            XCTAssertTrue(clip.video?.file.hasSuffix(".avi") == true && clip.audio?.file.hasSuffix(".wav") == true, reference)
            // The utterance's own seconds of its dialogue's video, as its evaluation line gives them.
            let utterance = ((reference as NSString).lastPathComponent as NSString).deletingPathExtension.replacingOccurrences(of: ".wav", with: "")
            let dialogue = String(utterance[..<utterance.lastIndex(of: "_")!]), session = "Session" + String(utterance.dropFirst(4).prefix(1))
            let evaluation = try String(contentsOfFile: data + "/IEMOCAP_full_release/\(session)/dialog/EmoEvaluation/\(dialogue).txt", encoding: .utf8)
            let line = evaluation.split(separator: "\n").first { $0.contains("\t\(utterance)\t") }!
            XCTAssertEqual(line.hasPrefix(String(format: "[%.4f - %.4f]", clip.video!.start!, clip.video!.end!)), true, "\(line)")
            if try json(out + "/faces/clips/\(reference)/faces.json")["status"] as? String == "ok" { found += 1 }
        }
        XCTAssertGreaterThanOrEqual(found, 18, "a face in most utterances' frames of the dialogue videos")
        XCTAssertEqual(try models(out).count, 15, "five models in each of three folds")
    }

    /// Long recordings and a labels file of spans: every row a reference to its seconds of a recording (nothing cut),
    /// through the folder pipeline; a span past a recording's end is a recorded drop.
    func testAFolderOfLongRecordingsWithSpans() throws {
        let (out, data) = try run(layout: "csv", folder: "my-dataset", pipeline: "folder", synth: ["--width", "256", "--height", "192"], vars: ["labels_file=spans.csv"]) { root in
            // Each speaker's clips joined into one recording (streams copied, as `ffmpeg -f concat -c copy` joins them).
            let rows = try String(contentsOfFile: root + "/clips/labels.csv", encoding: .utf8).split(separator: "\n").dropFirst().map { $0.split(separator: ",").map(String.init) }
            var spans = "file,label,speaker,start,end\n", bySpeaker: [String: [[String]]] = [:]
            for row in rows { bySpeaker[row[2], default: []].append(row) }
            for (speaker, clips) in bySpeaker.sorted(by: { $0.key < $1.key }) {
                var list = "", clock = 0.0
                for clip in clips {
                    let path = root + "/clips/" + clip[0]
                    list += "file '\(path)'\n"
                    let seconds = try MediaReader(path: path).duration
                    spans += String(format: "long/%@.mp4,%@,%@,%.3f,%.3f\n", speaker, clip[1], speaker, clock + 0.05, clock + seconds - 0.05)
                    clock += seconds
                }
                spans += String(format: "long/%@.mp4,joy,%@,%.3f,%.3f\n", speaker, speaker, clock + 5, clock + 7)
                try Data(list.utf8).write(to: URL(fileURLWithPath: root + "/\(speaker).txt"))
                try FileManager.default.createDirectory(atPath: root + "/clips/long", withIntermediateDirectories: true)
                let joined = try shell("/usr/bin/ffmpeg", ["-v", "error", "-f", "concat", "-safe", "0", "-i", root + "/\(speaker).txt", "-c", "copy", root + "/clips/long/\(speaker).mp4"])
                XCTAssertEqual(joined.status, 0, joined.err)
            }
            for clip in rows { try FileManager.default.removeItem(atPath: root + "/clips/" + clip[0]) }
            try Data(spans.utf8).write(to: URL(fileURLWithPath: root + "/clips/spans.csv"))
        }
        let report = try json(out + "/clean/report.json")
        XCTAssertEqual((report["clips"] as! [String: [String]])["interval_outside"]?.count, 4, "one span past its recording's end per speaker")
        var kept = 0, found = 0
        for split in ["train", "dev", "test"] {
            for line in try String(contentsOfFile: out + "/clean/\(split).jsonl", encoding: .utf8).split(separator: "\n") {
                let record = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
                guard record["status"] as? String == "kept" else { continue }
                kept += 1
                let clip = record["clip"] as! String
                XCTAssertTrue(clip.hasPrefix("clips/clips/long/speaker") && clip.contains(".mp4@"), clip)
                if try json(out + "/faces/\(clip)/faces.json")["status"] as? String == "ok" { found += 1 }
                XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/mel/\(clip)/mel.npy"), clip)
            }
        }
        XCTAssertEqual(kept, 28, "every clip of \(data) kept as its span of its speaker's recording")
        XCTAssertGreaterThanOrEqual(found, 21, "a face in most spans")
        XCTAssertEqual(try models(out), ["visual", "audio", "concat", "transformer", "cross_attention"])
    }

    /// With two training seeds: every model twice, and the results give each model's mean and deviation over them.
    func testAFolderWithALabelsFileAndTwoSeeds() throws {
        let (out, data) = try run(layout: "csv", folder: "my-dataset", pipeline: "folder", vars: ["seeds=1,2"])
        try checkManifests(out, data: data, classes: ["anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise"], kept: 28)
        let results = try json(out + "/results/results.json")
        let aggregates = results["aggregates"] as! [[String: Any]]
        XCTAssertEqual(aggregates.map { $0["model"] as! String }, ["visual", "audio", "concat", "transformer", "cross_attention"])
        XCTAssertEqual(Set(aggregates.map { $0["runs"] as! [String] }), [["1", "2"]])
        XCTAssertEqual((results["run_comparisons"] as! [[String: Any]]).count, 6)
        let markdown = try String(contentsOfFile: out + "/results/results.md", encoding: .utf8)
        XCTAssertTrue(markdown.contains("| cross_attention | 1, 2 | "), markdown)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/train@visual-2/best.safetensors"))
    }

    /// The six real CREMA-D clips (VP6 video, MP3 audio in FLV) decode through faces and mel: a face in each, a log-mel of each.
    func testRealCremaDClipsThroughFacesAndMel() throws {
        let clips = try Shared.path("data/clips")
        let workspace = try TemporaryFolder()
        try FileManager.default.createSymbolicLink(atPath: workspace.file("CREMA-D"), withDestinationPath: clips)
        let ran = try shell(productsDirectory() + "/emotion", ["run", CorpusPipelineTests.pipelines + "/crema-d.yaml", "--workspace", workspace.path,
                                                              "--until", "shard_index", "--var", "frames=2", "--var", "size=32", "--var", "shards=2"])
        XCTAssertEqual(ran.status, 0, ran.err)
        let out = workspace.file("out/crema-d")
        for emotion in ["ANG", "DIS", "FEA", "HAP", "NEU", "SAD"] {
            let clip = "1001_DFA_\(emotion)_XX.flv"
            XCTAssertEqual(try json(out + "/faces/\(clip)/faces.json")["status"] as? String, "ok", clip)
            XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/mel/\(clip)/mel.npy"), clip)
        }
        let index = try json(out + "/shard_index/train/index.json")
        XCTAssertEqual(index["classes"] as? [String], ["anger", "disgust", "fear", "happy", "neutral", "sad"])
        let report = try json(out + "/clean/report.json")
        XCTAssertEqual((report["clips"] as! [String: [String]])["superseded_copy"]?.count, 6, "the derived MP4s are copies of the FLVs")
    }
}
