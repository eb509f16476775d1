import Crypto
import Foundation
import Safetensors
import TestSupport
import EmotionModel
import OneDNN
import XCTest

/// The train stage through `emotion run`: its outputs land under out/, a run whose training job is killed fails naming
/// the stage and how its process ended, and the next run resumes from the checkpoint kept in the unit's resume folder,
/// which goes once the stage's outputs are recorded. The evaluate stage after it accounts for every clip, and its
/// figures are scikit-learn's on its own predictions.
final class TrainStageTests: XCTestCase {
    static let pipeline = """
        stages:
          train:
            uses: train
            deps: [{path: tiny}]
            params: {workers: 2, batch: 2, threads: 1, epochs: 2, mel_frames: 16, warmup: 2, checkpoint_every: 2, max_steps: 6}
          evaluate:
            uses: evaluate
            deps: [train, {path: tiny}]
            params: {splits: [dev, train], bootstrap: 200}
        """

    func testAKilledTrainingRunResumesFromItsCheckpoint() throws {
        let folder = try TemporaryFolder()
        try TinyShards.write(to: folder.file("tiny"))
        try Data(Self.pipeline.utf8).write(to: URL(fileURLWithPath: folder.file("p.yaml")))
        let emotion = productsDirectory() + "/emotion"
        let arguments = ["run", folder.file("p.yaml"), "--workspace", folder.path]

        let killed = try shell(emotion, arguments, environment: ["EMOTION_TRAIN_FAULT": "0:5:parent"])
        XCTAssertNotEqual(killed.status, 0)
        XCTAssertTrue(killed.err.contains("died of SIGKILL") && killed.err.contains("stage 'train'"), killed.err)
        let resume = folder.file("cache/resume")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: resume).count, 1, "the unit's resume folder is kept for the next run")

        let resumed = try shell(emotion, arguments)
        XCTAssertEqual(resumed.status, 0, resumed.err)
        let out = folder.file("out/p/train")
        let log = try String(contentsOfFile: out + "/train.log", encoding: .utf8)
        XCTAssertTrue(log.contains("resuming from the checkpoint at step 4"), log)
        for name in ["best.safetensors", "last.safetensors", "metrics.jsonl", "train.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/" + name), name)
        }
        XCTAssertEqual(try SafetensorsFile(path: out + "/last.safetensors").metadata["fusion"], "cross_attention")
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/train.json"))) as? [String: Any]
        XCTAssertEqual(summary?["steps"] as? Int, 6)
        XCTAssertEqual(summary?["workers"] as? Int, 2)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: resume), [], "the resume folder goes once the outputs are recorded")

        try checkEvaluation(folder.file("out/p/evaluate"))

        let again = try shell(emotion, arguments)
        XCTAssertEqual(again.status, 0, again.err)
        XCTAssertEqual(unitsExecuted(again.err + String(decoding: again.out, as: UTF8.self)), 0, again.err)
    }

    private func checkEvaluation(_ out: String) throws {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/metrics.json"))) as! [String: Any]
        XCTAssertEqual(json["fusion"] as? String, "cross_attention")
        XCTAssertEqual(json["weights"] as? String, "best")
        let metrics = json.compactMapValues { $0 as? [String: Any] }
        XCTAssertEqual(Set(metrics.keys), ["dev", "train"])
        XCTAssertEqual(metrics["dev"]?["clips"] as? Int, 5)
        XCTAssertEqual(metrics["train"]?["clips"] as? Int, 12)
        let lines = try String(contentsOfFile: out + "/predictions.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 17)
        for line in lines {
            let record = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            let probabilities = record["probabilities"] as! [Double]
            XCTAssertEqual(probabilities.count, 7)
            XCTAssertEqual(probabilities.reduce(0, +), 1, accuracy: 1e-5)
        }
        let html = try String(contentsOfFile: out + "/report.html", encoding: .utf8)
        XCTAssertTrue(html.contains("<svg") && html.contains("always neutral") && !html.contains("<script"), "report.html")
        // scikit-learn, where importable, on the stage's own predictions.
        let python = """
            import json, sys
            from sklearn.metrics import accuracy_score, f1_score
            rows = [json.loads(l) for l in open(sys.argv[1] + "/predictions.jsonl")]
            metrics = json.load(open(sys.argv[1] + "/metrics.json"))
            for split in ("dev", "train"):
                t = [r["truth"] for r in rows if r["split"] == split]; p = [r["predicted"] for r in rows if r["split"] == split]
                m = metrics[split]
                assert abs(accuracy_score(t, p) - m["accuracy"]) < 1e-12, (split, "accuracy")
                assert abs(f1_score(t, p, average="weighted", zero_division=0) - m["weighted_f1"]) < 1e-12, (split, "weighted")
                assert abs(f1_score(t, p, average="macro", zero_division=0) - m["macro_f1"]) < 1e-12, (split, "macro")
            print("agree")
            """
        let check = try shell("/usr/bin/env", ["python3", "-c", python, out])
        if check.err.contains("No module named") {
            print("scikit-learn is not importable: the evaluation's figures are not compared with it here")
        } else {
            XCTAssertEqual(String(decoding: check.out, as: UTF8.self), "agree\n", check.err)
        }
    }
}

/// Several fusions from one declaration, their evaluations gathered by the results stage, and the export of the one
/// with the best dev weighted F1, through `emotion run`.
final class ResultsAndExportStageTests: XCTestCase {
    static let pipeline = """
        stages:
          train:
            foreach: [audio, cross_attention]
            do:
              uses: train
              deps: [{path: tiny}]
              params: {fusion: "${item}", workers: 1, batch: 4, threads: 2, epochs: 1, mel_frames: 16, warmup: 1}
          evaluate:
            foreach: [audio, cross_attention]
            do:
              uses: evaluate
              deps: ["train@${item}", {path: tiny}]
              params: {bootstrap: 100}
          results:
            uses: results
            deps: [evaluate, {path: truth}]
            params: {bootstrap: 100}
          export:
            uses: export
            deps: [train, evaluate, {path: tiny}]
        """

    /// The tiny shards (with a test split), a generator's truth for them and the pipeline, under `folder`.
    private func prepare(_ folder: String) throws {
        try TinyShards.write(to: folder + "/tiny", test: 14)
        try FileManager.default.createDirectory(atPath: folder + "/truth/synthesis", withIntermediateDirectories: true)
        let rows = (0..<14).map { "test,0,\($0),\(["joy", "anger"][$0 % 2]),\($0 < 10 ? ["joy", "anger"][$0 % 2] : "neutral"),neutral,true,false" }
        try Data((["split,dialogue,utterance,label,face_shows,voice_carries,face_carries_label,voice_carries_label"] + rows).joined(separator: "\n").utf8)
            .write(to: URL(fileURLWithPath: folder + "/truth/synthesis/truth.csv"))
        try Data(Self.pipeline.utf8).write(to: URL(fileURLWithPath: folder + "/p.yaml"))
    }

    private func run(in folder: String, prefix: [String] = []) throws {
        let command = prefix + [productsDirectory() + "/emotion", "run", folder + "/p.yaml", "--workspace", folder]
        let result = try shell(command[0], Array(command.dropFirst()))
        XCTAssertEqual(result.status, 0, result.err)
    }

    func testResultsTableAndExport() throws {
        let folder = try TemporaryFolder()
        try prepare(folder.path)
        try run(in: folder.path)

        let results = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder.file("out/p/results/results.json")))) as! [String: Any]
        let models = results["models"] as! [[String: Any]]
        XCTAssertEqual(models.map { $0["model"] as! String }, ["audio", "cross_attention"])
        XCTAssertEqual(models.map { $0["stage"] as! String }, ["evaluate@audio", "evaluate@cross_attention"])
        XCTAssertEqual(models[0]["clips"] as? Int, 14)
        let comparisons = results["comparisons"] as! [[String: Any]]
        XCTAssertEqual(comparisons.count, 1)
        XCTAssertEqual(comparisons.first?["against"] as? String, "audio")
        let ceiling = results["ceiling"] as! [[String: Any]]
        XCTAssertEqual(ceiling.map { $0["channels"] as! String }, ["face", "voice", "both"])
        // The face shows the label on 10 of 14 clips and a neutral face otherwise (2 joy, 2 anger: joy wins the tie, by
        // class order, so the 2 anger clips are lost); the voice is always neutral: half right by the same tie.
        XCTAssertEqual(ceiling[0]["accuracy"] as! Double, 12.0 / 14, accuracy: 1e-12)
        XCTAssertEqual(ceiling[1]["accuracy"] as! Double, 7.0 / 14, accuracy: 1e-12)
        let markdown = try String(contentsOfFile: folder.file("out/p/results/results.md"), encoding: .utf8)
        XCTAssertTrue(markdown.contains("| cross_attention | ") && markdown.contains("ceiling: perfect perception of face and voice"), markdown)
        let html = try String(contentsOfFile: folder.file("out/p/results/results.html"), encoding: .utf8)
        XCTAssertTrue(html.contains("<svg") && !html.contains("<script"))

        // The export: the model with the best dev weighted F1, every file's digest in model_info.json.
        let export = folder.file("out/p/export")
        let info = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: export + "/model_info.json"))) as! [String: Any]
        let devF1 = try ["audio", "cross_attention"].map { fusion -> Double in
            let metrics = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder.file("out/p/evaluate@\(fusion)/metrics.json")))) as! [String: Any]
            return (metrics["dev"] as! [String: Any])["weighted_f1"] as! Double
        }
        XCTAssertEqual(info["fusion"] as? String, devF1[1] > devF1[0] ? "cross_attention" : "audio")
        let files = info["files"] as! [String: [String: Any]]
        // A model that sees faces has its int8 trunk calibrated on the dev clips; the voice model has int8 weights only.
        let seesFaces = info["fusion"] as? String != "audio"
        XCTAssertEqual(Set(files.keys), Set(["model.safetensors", "model.onnx", "model_int8.onnx", "emotion_model.py"] + (seesFaces ? ["model_int8.json"] : [])))
        let int8Form = info["int8"] as! [String: Any]
        XCTAssertEqual(int8Form["form"] as? String, seesFaces ? "static" : "weights")
        XCTAssertNotNil(int8Form["weighted_f1_interval"] as? [Double])
        if seesFaces {
            let calibration = try TrunkCalibration(file: export + "/model_int8.json", for: ResNet18Trunk())
            XCTAssertEqual(calibration.method, .minmax)
            XCTAssertTrue(calibration.source.contains("split 'dev'"), calibration.source)
        }
        for (name, entry) in files {
            let data = try Data(contentsOf: URL(fileURLWithPath: export + "/" + name))
            XCTAssertEqual(entry["sha256"] as? String, SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined(), name)
        }
        let test = info["test"] as! [String: Any], int8 = info["test_int8"] as! [String: Any]
        XCTAssertEqual(test["clips"] as? Int, 14)
        XCTAssertEqual(int8["clips"] as? Int, 14)
        XCTAssertEqual((info["shapes"] as? [String: Int])?["mel_frames"], 16)
    }

    /// Trained weights, evaluations, the results table and the export are the same bytes from a second fresh process
    /// on one core under a competing load (the files that record wall time or speed aside).
    func testSameBytesFromAnotherProcessOnOneCoreUnderLoad() throws {
        let folder = try TemporaryFolder()
        try prepare(folder.file("quiet"))
        try run(in: folder.file("quiet"))
        try prepare(folder.file("loaded"))
        let busy = try busyLoops()
        defer { for process in busy { process.terminate(); process.waitUntilExit() } }
        try run(in: folder.file("loaded"), prefix: FileManager.default.isExecutableFile(atPath: "/usr/bin/taskset") ? ["/usr/bin/taskset", "-c", "0"] : [])
        let timed: Set<String> = ["train.json", "train.log", "metrics.jsonl"]
        var quiet = try outputFiles(under: folder.file("quiet/out/p")), loaded = try outputFiles(under: folder.file("loaded/out/p"))
        XCTAssertEqual(Set(quiet.keys), Set(loaded.keys))
        // model_info.json carries the training's wall time in training_summary: compared without it.
        func untimed(_ data: Data?) throws -> Data {
            var info = try XCTUnwrap(try JSONSerialization.jsonObject(with: XCTUnwrap(data)) as? [String: Any])
            info["training_summary"] = nil
            return try JSONSerialization.data(withJSONObject: info, options: [.sortedKeys])
        }
        (quiet["export/model_info.json"], loaded["export/model_info.json"]) = (try untimed(quiet["export/model_info.json"]), try untimed(loaded["export/model_info.json"]))
        let compared = quiet.keys.filter { !timed.contains(($0 as NSString).lastPathComponent) }.sorted()
        XCTAssertTrue(compared.contains("export/model.onnx") && compared.contains("results/results.json") && compared.contains("evaluate@audio/predictions.jsonl"), "\(compared)")
        XCTAssertEqual(compared.filter { quiet[$0] != loaded[$0] }, [], "outputs that differ between a quiet run and one on one core under load")
    }

    /// Issue 30: the run's overview, the results table and an evaluation report, opened in Chromium through their out/
    /// paths as a person would: each renders as a page (tables and figures, not its source in a <pre>), no figure's
    /// labels lie over each other in Chromium's own layout, and no page is wider than a 1280-pixel window.
    func testThePagesOpenInChromiumAsPagesThatFit() throws {
        _ = try Chromium.program()
        let folder = try TemporaryFolder()
        try prepare(folder.path)
        try run(in: folder.path)
        let pages = ["out/p/index.html": ["<table", "<svg", "data-stage=\"results\"", "evaluate%40audio/report.html"],
                     "out/p/results/results.html": ["<table", "<svg", "ceiling: perfect perception of both"],
                     "out/p/evaluate@cross_attention/report.html": ["<table", "<svg", "normalised confusion"]]
        for (page, expected) in pages.sorted(by: { $0.key < $1.key }) {
            let dom = try Chromium.dom(of: folder.file(page))
            for text in expected { XCTAssertTrue(dom.contains(text), "\(page): no \(text) in the DOM Chromium built") }
            XCTAssertFalse(dom.contains("<pre"), "\(page) shown as text")
            let layout = try Chromium.layout(of: folder.file(page))
            XCTAssertGreaterThan(layout.figures.count, 0, page)
            XCTAssertGreaterThan(layout.figures.flatMap { $0 }.count, 10, "\(page): labels laid out")
            XCTAssertEqual(Chromium.overlaps(in: layout), [], page)
            XCTAssertLessThanOrEqual(layout.scrollWidth, 1280, page)
        }
        let png = folder.file("index.png")
        try Chromium.screenshot(of: folder.file("out/p/index.html"), to: png)
        let header = try Data(contentsOf: URL(fileURLWithPath: png)).prefix(24)
        XCTAssertEqual(Array(header.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "a PNG")
        XCTAssertEqual(header[16..<20].reduce(0) { $0 << 8 | Int($1) }, 1280, "1280 pixels wide")
    }
}

/// Issue 31: `precision` through `emotion run`. bf16 gives the same bytes from a second fresh process on one core under
/// load, and `train.json` and `metrics.json` say bf16; on a CPU without AVX512_BF16 (oneDNN capped below it with
/// `ONEDNN_MAX_CPU_ISA`, as a machine without it would report) bf16 is refused naming the stage and why, and `auto` runs
/// fp32 and says so.
final class PrecisionStageTests: XCTestCase {
    static func pipeline(_ precision: String) -> String {
        """
        stages:
          train:
            uses: train
            deps: [{path: tiny}]
            params: {workers: 2, batch: 2, threads: 1, epochs: 1, mel_frames: 16, warmup: 1, max_steps: 3, precision: \(precision)}
          evaluate:
            uses: evaluate
            deps: [train, {path: tiny}]
            params: {splits: [dev], bootstrap: 50, precision: \(precision)}
        """
    }

    private func prepare(_ folder: String, _ precision: String) throws {
        try TinyShards.write(to: folder + "/tiny")
        try Data(Self.pipeline(precision).utf8).write(to: URL(fileURLWithPath: folder + "/p.yaml"))
    }

    private func run(_ folder: String, prefix: [String] = [], environment: [String: String] = [:]) throws -> (status: Int32, out: Data, err: String) {
        let command = prefix + [productsDirectory() + "/emotion", "run", folder + "/p.yaml", "--workspace", folder]
        return try shell(command[0], Array(command.dropFirst()), environment: environment)
    }

    private func json(_ path: String) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
    }

    func testBF16IsTheSameBytesFromAnotherProcessOnOneCoreUnderLoad() throws {
        if let why = Precision.bf16.unsupported { throw XCTSkip(why) }
        let folder = try TemporaryFolder()
        try prepare(folder.file("quiet"), "bf16")
        let quietRun = try run(folder.file("quiet"))
        XCTAssertEqual(quietRun.status, 0, quietRun.err)
        try prepare(folder.file("loaded"), "bf16")
        let busy = try busyLoops()
        defer { for process in busy { process.terminate(); process.waitUntilExit() } }
        let loadedRun = try run(folder.file("loaded"), prefix: FileManager.default.isExecutableFile(atPath: "/usr/bin/taskset") ? ["/usr/bin/taskset", "-c", "0"] : [])
        XCTAssertEqual(loadedRun.status, 0, loadedRun.err)
        let quiet = try outputFiles(under: folder.file("quiet/out/p")), loaded = try outputFiles(under: folder.file("loaded/out/p"))
        let timed: Set<String> = ["train.json", "train.log", "metrics.jsonl"]
        let compared = quiet.keys.filter { !timed.contains(($0 as NSString).lastPathComponent) }.sorted()
        XCTAssertTrue(compared.contains("train/last.safetensors") && compared.contains("evaluate/predictions.jsonl"), "\(compared)")
        XCTAssertEqual(compared.filter { quiet[$0] != loaded[$0] }, [], "bf16 outputs that differ between a quiet run and one on one core under load")
        let settings = try json(folder.file("quiet/out/p/train/train.json"))["settings"] as? [String: Any]
        XCTAssertEqual(settings?["precision"] as? String, "bf16")
        XCTAssertEqual(try json(folder.file("quiet/out/p/evaluate/metrics.json"))["precision"] as? String, "bf16")
    }

    func testBF16IsRefusedWhereTheCPULacksItAndAutoRunsFP32() throws {
        let capped = ["ONEDNN_MAX_CPU_ISA": "AVX512_CORE_VNNI"]
        let folder = try TemporaryFolder()
        try prepare(folder.path, "bf16")
        let refused = try run(folder.path, environment: capped)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.err.contains("stage 'train'") && refused.err.contains("precision bf16") && refused.err.contains("AVX512_BF16"), refused.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.file("out/p/train/last.safetensors")), "a refused training left weights")

        try prepare(folder.path, "auto")
        let fallback = try run(folder.path, environment: capped)
        XCTAssertEqual(fallback.status, 0, fallback.err)
        let settings = try json(folder.file("out/p/train/train.json"))["settings"] as? [String: Any]
        XCTAssertEqual(settings?["precision"] as? String, "fp32", "auto on a CPU without bf16")
        XCTAssertEqual(try json(folder.file("out/p/evaluate/metrics.json"))["precision"] as? String, "fp32")
    }
}
