import EmotionStages
import Foundation
import Media
import Pipeline
import TestSupport
import XCTest

/// The project's stages in the runner: synthesize -> probe -> clean, as `pipelines/demo.yaml` wires them,
/// on a tiny dataset; and reruns that touch only what changed.
final class DemoPipelineTests: XCTestCase {
    static let pipeline = """
        stages:
          synthesize:
            uses: synthesize
            params: {seed: 3, dialogues: [1, 1, 1], utterances: 2, width: 320, height: 240}
          probe:
            uses: probe
            map: {stage: synthesize, glob: "**/*.mp4"}
          clean:
            uses: clean
            deps: [synthesize, probe]
          mel:
            uses: mel
            map: {stage: synthesize, glob: "**/*.mp4"}
          faces:
            uses: faces
            map: {stage: synthesize, glob: "**/*.mp4"}
            params: {frames: 3}
        """

    func run(_ yaml: String, in folder: TemporaryFolder) throws -> RunSummary {
        let file = folder.file("demo.yaml")
        try Data(yaml.utf8).write(to: URL(fileURLWithPath: file))
        let graph = try PipelineGraph(try PipelineSpec.load(file: file), registry: ProjectStages.registry)
        return try Runner(workspace: try Workspace(root: folder.file("data")), graph: graph, progress: Progress(quiet: true)).run()
    }

    func testDemoGraphRunsAndRerunsOnlyWhatChanged() throws {
        let folder = try TemporaryFolder()
        let first = try run(Self.pipeline, in: folder)
        XCTAssertFalse(first.failed)
        XCTAssertEqual(first.stage("probe")?.executed, 6, "5 annotated clips and 1 unannotated (1 is planted missing)")
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder.file("data/out/demo/clean/report.json")))) as! [String: Any]
        let clips = report["clips"] as! [String: [String]]
        XCTAssertEqual(Set(clips.keys), ["missing", "silent", "truncated", "unannotated"])
        let manifest = try String(contentsOfFile: folder.file("data/out/demo/clean/train.jsonl"), encoding: .utf8)
        XCTAssertEqual(manifest.split(separator: "\n").count, 2)

        // mel.npy per decodable clip: NumPy's header, and as many frames as the decoded audio implies.
        let clip = "train_splits/dia0_utt0.mp4"
        let npy = try Data(contentsOf: URL(fileURLWithPath: folder.file("data/out/demo/mel/\(clip)/mel.npy")))
        let samples = try MediaReader(path: folder.file("data/out/demo/synthesize/\(clip)")).audio().count
        let header = String(decoding: npy.prefix(128), as: UTF8.self)
        XCTAssertTrue(npy.starts(with: [0x93] + Array("NUMPY".utf8)))
        XCTAssertTrue(header.contains("'descr': '<f4', 'fortran_order': False, 'shape': (64, \(1 + samples / 160)), }"), header)
        XCTAssertEqual(npy.count, 128 + 64 * (1 + samples / 160) * 4)
        let chips = try Data(contentsOf: URL(fileURLWithPath: folder.file("data/out/demo/faces/\(clip)/frames.npy")))
        XCTAssertTrue(String(decoding: chips.prefix(128), as: UTF8.self).contains("'descr': '|u1', 'fortran_order': False, 'shape': (3, 224, 224, 3), }"))
        XCTAssertEqual(chips.count, 128 + 3 * 224 * 224 * 3)
        let record = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder.file("data/out/demo/faces/\(clip)/faces.json")))) as! [String: Any]
        XCTAssertEqual(record["status"] as? String, "ok")
        let truncated = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder.file("data/out/demo/mel/train_splits/dia0_utt1.mp4/mel.json")))) as! [String: Any]
        XCTAssertEqual(truncated["status"] as? String, "truncated")
        XCTAssertTrue((truncated["detail"] as? String)?.contains("audio stops at") == true, "\(truncated)")

        XCTAssertEqual(try run(Self.pipeline, in: folder).executed, 0)
        let stricter = try run(Self.pipeline.replacingOccurrences(of: "deps: [synthesize, probe]", with: "deps: [synthesize, probe]\n    params: {max_duration: 1}"), in: folder)
        XCTAssertEqual(stricter.stage("clean")?.executed, 1)
        XCTAssertEqual(stricter.stage("probe")?.state, .upToDate)
        XCTAssertEqual(stricter.stage("synthesize")?.state, .upToDate)
    }

    func testBadSynthesisParamIsAClearError() throws {
        let folder = try TemporaryFolder()
        let summary = try run(Self.pipeline.replacingOccurrences(of: "width: 320", with: "width: 321"), in: folder)
        XCTAssertEqual(summary.stage("synthesize")?.state, .failed)
        XCTAssertTrue(summary.stage("synthesize")?.failures.first?.contains("'width' and 'height' must be even") ?? false, "\(summary.stage("synthesize")!.failures)")
    }
}
