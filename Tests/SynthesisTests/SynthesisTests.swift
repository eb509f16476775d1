import EmotionStages
import Foundation
import Media
import Meld
import Pipeline
import Speech
import Synthesis
import TestSupport
import XCTest

/// The generated dataset: it decodes, its labels follow the requested distribution, the same seed gives the
/// same data, and `clean` finds exactly the faults it planted.
final class SynthesisTests: XCTestCase {
    static func small(seed: Int = 7, faults: Bool = true) -> SynthesisParams {
        var params = SynthesisParams()
        params.seed = seed
        params.dialogues = [.train: 2, .dev: 2, .test: 2]
        params.utterancesPerDialogue = 2
        params.width = 320
        params.height = 180
        params.plantFaults = faults
        return params
    }

    func cleanTree(_ root: String) throws -> Cleaner.Result {
        let files = try StageInput.scan(root, threads: 2).files.filter { $0.path.hasSuffix(".mp4") || $0.path.hasSuffix(".csv") }
        var probes: [String: ClipProbe] = [:]
        for file in files where file.path.hasSuffix(".mp4") { probes[file.path] = ProbeStage.probeClip(at: file.location, settings: ProbeSettings()) }
        return try CleanStage.clean(files: files, probes: probes, params: CleaningParams())
    }

    func testSmallDatasetDecodesAndCleanReportsExactlyThePlantedFaults() throws {
        let folder = try TemporaryFolder()
        let params = Self.small()
        try DatasetSynthesizer.write(params, to: folder.path, threads: 2)
        let faults = try JSONDecoder().decode([PlantedFault].self, from: Data(contentsOf: URL(fileURLWithPath: folder.file("synthesis/faults.json"))))
        XCTAssertEqual(Set(faults.map(\.kind)), Set(PlantedFault.Kind.allCases))

        let result = try cleanTree(folder.path)
        func clips(_ reason: String) -> [String] { result.report.clips[reason] ?? [] }
        func planted(_ kind: PlantedFault.Kind) -> [String] {
            faults.filter { $0.kind == kind }.map { $0.split.clipFolder + "/" + $0.file }
        }
        for kind in [PlantedFault.Kind.truncated, .missing, .silent, .unannotated] {
            XCTAssertEqual(clips(kind.rawValue), planted(kind), kind.rawValue)
            XCTAssertEqual(planted(kind).count, 1, kind.rawValue)
        }
        XCTAssertEqual(Set(result.report.clips.keys), ["truncated", "missing", "silent", "unannotated"], "nothing else is wrong")
        XCTAssertEqual(result.report.problems, [])
        XCTAssertEqual(result.report.duplicateDialogues.count + result.report.splitOverlaps.count, 0)

        // Legacy-encoded text repairs to what was spoken; `0:` hours and two-digit milliseconds parse.
        let plan = DatasetSynthesizer.plan(params)
        let train = result.manifests[.train]!
        XCTAssertEqual(train.map(\.text), plan.filter { $0.split == .train }.map(\.text))
        let csv = try String(contentsOfFile: folder.file(Split.train.csvName), encoding: .utf8)
        XCTAssertTrue(csv.contains("\"0:00:"), "a `0:` hour is planted")
        XCTAssertTrue(train.allSatisfy { !$0.flags.contains(.badTimestamp) })
        if plan.contains(where: { $0.split == .train && $0.text.contains("’") }) {
            XCTAssertTrue(csv.unicodeScalars.contains { $0.value == 0x92 }, "curly apostrophes are stored as C1 controls")
        }

        // Every usable clip decodes to the requested size, with speech in it.
        for record in result.manifests.values.flatMap({ $0 }) where record.status == .kept {
            let reader = try MediaReader(path: folder.file(record.clip!))
            XCTAssertEqual(reader.videoSize?.width, 320)
            XCTAssertGreaterThan(reader.duration, 0.8)
            XCTAssertEqual(try reader.frames(count: 2).count, 2)
        }
    }

    /// Two fresh `emotion synth` processes (how the stage and users run it) with the same seed write the same
    /// files, byte for byte, the planted faults included; another seed writes another dataset.
    func testSameSeedGivesIdenticalFiles() throws {
        let emotion = productsDirectory() + "/emotion"
        guard FileManager.default.isExecutableFile(atPath: emotion) else { throw XCTSkip("emotion is not built beside the tests") }
        let folder = try TemporaryFolder()
        for (name, seed) in [("a", 7), ("b", 7), ("other", 8)] {
            let result = try shell(emotion, ["synth", "--out", folder.file(name), "--seed", String(seed), "--dialogues", "1,1,1",
                                             "--utterances", "2", "--width", "320", "--height", "180"])
            XCTAssertEqual(result.status, 0, result.err)
        }
        let a = try outputFiles(under: folder.file("a")), b = try outputFiles(under: folder.file("b"))
        XCTAssertEqual(a.keys.filter { $0.hasSuffix(".mp4") }.count, 6, "5 clips (one planted missing) and the unannotated one")
        XCTAssertEqual(Set(a.keys), Set(b.keys))
        XCTAssertEqual(a.keys.filter { a[$0] != b[$0] }.sorted(), [], "files that differ between two runs with one seed")
        let other = try outputFiles(under: folder.file("other"))
        XCTAssertNotEqual(a[Split.train.csvName], other[Split.train.csvName], "another seed, another dataset")
    }

    /// Issue 27, case 11: espeak-ng's voice depended on what it had spoken before in the process, so a dataset's
    /// first clips could come out other than in a later generation. Each utterance is now spoken in a process of its
    /// own: a clip made alone (the first and only utterances of a tiny dataset) equals, byte for byte, the same clip made
    /// within a larger dataset after dozens of others, on one core under a busy loop with more threads than cores.
    func testEachUtteranceIsTheSameAloneAsWithinALargerDatasetUnderLoad() throws {
        let emotion = productsDirectory() + "/emotion"
        guard FileManager.default.isExecutableFile(atPath: emotion) else { throw XCTSkip("emotion is not built beside the tests") }
        let folder = try TemporaryFolder()
        let common = ["--seed", "5", "--width", "320", "--height", "180", "--fps", "12", "--label-weights", "1,1,1,1,1,1,1"]
        let busy = Process()
        busy.executableURL = URL(fileURLWithPath: "/bin/sh")
        busy.arguments = ["-c", "while :; do :; done"]
        try busy.run()
        defer { busy.terminate() }
        let large = try shell("/usr/bin/taskset", ["-c", "0", emotion, "synth", "--out", folder.file("large"), "--dialogues", "6,2,3", "--utterances", "5",
                                                   "--threads", "3"] + common)
        XCTAssertEqual(large.status, 0, large.err)
        busy.terminate()
        let alone = try shell(emotion, ["synth", "--out", folder.file("alone"), "--dialogues", "1,1,1", "--utterances", "2", "--threads", "1"] + common)
        XCTAssertEqual(alone.status, 0, alone.err)

        let inLarge = try outputFiles(under: folder.file("large")), byItself = try outputFiles(under: folder.file("alone"))
        // The unannotated extra clip is numbered after the dev dialogues, so it is another clip in each.
        let clips = byItself.keys.filter { $0.hasSuffix(".mp4") && !$0.contains("dia51_") }.sorted()
        XCTAssertGreaterThanOrEqual(clips.count, 4, "\(byItself.keys.sorted())")
        XCTAssertGreaterThan(inLarge.keys.filter { $0.hasSuffix(".mp4") }.count, 40)
        for clip in clips { XCTAssertEqual(byItself[clip], inLarge[clip], "\(clip): made alone and made among others") }

        // The same text, spoken in this process between others, gives the same samples each time.
        let prosody = Prosody(rate: 160, pitch: 60, range: 70, volume: 120, voice: "en+f2")
        let first = try SpeechSynthesizer.speak("I told you, it was not me.", prosody: prosody)
        _ = try SpeechSynthesizer.speak("Something else entirely, said loudly.", prosody: Prosody(rate: 300, volume: 200))
        XCTAssertEqual(try SpeechSynthesizer.speak("I told you, it was not me.", prosody: prosody).samples, first.samples)
    }

    func testLabelsAndModalitiesFollowTheParams() {
        var params = SynthesisParams()
        params.dialogues = [.train: 500, .dev: 0, .test: 0]
        params.utterancesPerDialogue = 10
        let plan = DatasetSynthesizer.plan(params)
        XCTAssertEqual(plan.count, 5000)
        let total = params.labelWeights.reduce(0, +)
        for emotion in Emotion.allCases {
            let expected = params.labelWeights[emotion.rawValue] / total
            let observed = Double(plan.filter { $0.label == emotion }.count) / Double(plan.count)
            let sigma = (expected * (1 - expected) / Double(plan.count)).squareRoot()
            XCTAssertEqual(observed, expected, accuracy: 4 * sigma, "\(emotion)")
        }
        // A face shows its label with probability p, plus 1/7 of the random rest.
        let faceAgrees = Double(plan.filter { $0.face == $0.label }.count) / Double(plan.count)
        XCTAssertEqual(faceAgrees, 0.7 + 0.3 / 7, accuracy: 0.03)
        let voiceAgrees = Double(plan.filter { $0.voice == $0.label }.count) / Double(plan.count)
        XCTAssertEqual(voiceAgrees, 0.6 + 0.4 / 7, accuracy: 0.03)

        params.labelWeights = [1, 1, 0, 0, 0, 0, 0]
        XCTAssertEqual(Set(DatasetSynthesizer.plan(params).map(\.label)), [.neutral, .joy])
        // The listener of a two-person scene is the dialogue's other speaker.
        for clip in plan { XCTAssertNotEqual(clip.listener, clip.speaker) }
        XCTAssert(zip(plan, plan.dropFirst()).allSatisfy { $0.dialogue != $1.dialogue || ($0.speaker == $1.listener && $0.listener == $1.speaker) })
    }

    func testTwoPeopleAreMELDScenesOnly() {
        var params = SynthesisParams()
        params.people = 2
        XCTAssertNil(params.problem)
        params.people = 3
        XCTAssertEqual(params.problem, "'people' must be 1 or 2")
        params.people = 2
        params.layout = .cremaD
        XCTAssertEqual(params.problem, "'people: 2' draws MELD-layout scenes; the crema-d layout has one actor in view")
    }
}
