import ChildProcesses
import Foundation
import TestSupport
import XCTest

/// Issue 27: seeded mutations of a valid input for each parser a user hands files to (a pipeline's YAML, a safetensors
/// header, a MELD CSV) and for the media opener, each in a `fuzz-probe` child whose address space is capped at 4 GiB
/// and whose time is bounded: every input must end in success or a clean error, never a crash, a hang or an
/// allocation beyond the cap. A failing input is kept in the temporary folder's place named in the failure, to
/// reproduce with the same probe.
final class FuzzTests: XCTestCase {
    static let pipeline = """
        description: every construct a pipeline file has, for mutation
        vars: {frames: 2, size: 48}
        stages:
          probe: {uses: probe, map: {path: MELD.Raw, glob: "**/*.mp4"}, limits: {seconds: 60, memory_mb: 512}}
          clean: {uses: clean, deps: [MELD.Raw, probe], params: &common {labels: [neutral, joy, sadness]}}
          faces: {uses: faces, map: {path: MELD.Raw, glob: "**/*.mp4"}, params: {frames: "${frames}", size: "${size}"}}
          shards: {uses: shards, map: faces, join: [mel, {stage: clean, under: rows}], params: {shards: 2}}
          train:
            foreach: [visual, audio]
            do: {uses: train, deps: [shards], params: {fusion: "${item}", class_weights: [1, 2.5]}}
          grid:
            matrix: {seed: [1, 2], lr: [0.1, 0.01]}
            uses: train
            params: {seed: "${item.seed}", lr_other: "${item.lr}"}
          report: {uses: results, deps: [train, grid@1-0.1], params: *common}

        """

    static let csv: String = {
        var lines = ["Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime"]
        let emotions = ["neutral", "joy", "sadness", "anger", "surprise", "fear", "disgust"]
        for row in 0..<24 {
            let text = row % 3 == 0 ? "\"Oh, \"\"really\"\", you\u{2019}re sure?\"" : "Fine, whatever you say."
            lines.append("\(row + 1),\(text),Speaker \(row % 4),\(emotions[row % 7]),neutral,\(row / 4),\(row % 4),\(1 + row % 9),\(1 + row % 20),"
                         + "\"00:00:0\(row % 10),\(100 + row)\",\"00:00:1\(row % 10),\(200 + row)\"")
        }
        return lines.joined(separator: "\n") + "\n"
    }()

    /// Runs the probe on `target`, `count` inputs from `seed`; fails naming the input it stopped on.
    private func fuzz(_ target: String, seed: UInt64, count: Int, seedText: String? = nil) throws {
        let work = try TemporaryFolder()
        var arguments = [target, String(seed), String(count), work.path]
        if let seedText {
            let file = work.file("seed")
            try Data(seedText.utf8).write(to: URL(fileURLWithPath: file))
            arguments.append(file)
        }
        let output = try ChildProcess.makePipe()
        let child = try ChildProcess(executable: productsDirectory() + "/fuzz-probe", arguments: arguments, descriptors: [1: output.write])
        close(output.write)
        let began = Date()
        let ended = child.wait(killAfter: 60)
        var said = Data(), chunk = [UInt8](repeating: 0, count: 4096)
        while case let got = read(output.read, &chunk, chunk.count), got > 0 { said.append(contentsOf: chunk[0..<got]) }
        close(output.read)
        guard ended.succeeded else {
            let kept = NSTemporaryDirectory() + "fuzz-\(target)-\(seed)-\(getpid())"
            let last = try FileManager.default.contentsOfDirectory(atPath: work.path).first { $0.hasPrefix("last") }
            if let last { try? FileManager.default.copyItem(atPath: work.file(last), toPath: kept) }
            XCTFail("\(target): the probe \(ended) after \(String(format: "%.1f", Date().timeIntervalSince(began))) s on the input kept at \(kept)"
                    + " (reproduce: fuzz-probe \(arguments.joined(separator: " ")))")
            return
        }
        let summary = try JSONSerialization.jsonObject(with: said) as? [String: Any]
        XCTAssertEqual(summary?["inputs"] as? Int, count, "\(target): \(String(decoding: said, as: UTF8.self))")
        // Both outcomes must occur, or the mutations did not reach past the first check (or never broke anything).
        XCTAssertGreaterThan(summary?["refused"] as? Int ?? 0, 0, "\(target): no mutation was refused")
        if target != "safetensors" { XCTAssertGreaterThan(summary?["parsed"] as? Int ?? 0, 0, "\(target): no mutation parsed") }
    }

    func testPipelineYAML() throws { try fuzz("yaml", seed: 27, count: 5000, seedText: Self.pipeline) }
    func testSafetensorsHeader() throws { try fuzz("safetensors", seed: 27, count: 5000) }
    func testMeldCSV() throws { try fuzz("csv", seed: 27, count: 5000, seedText: Self.csv) }
    func testMediaOpener() throws { try fuzz("media", seed: 27, count: 3000) }
}
