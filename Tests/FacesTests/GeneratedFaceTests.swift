import Faces
import Foundation
import Media
import Meld
import Synthesis
import TestSupport
import XCTest

/// The generated dataset's drawn faces are faces to dlib: its HOG detector finds one in most sampled frames,
/// for every identity and expression, at the generator's default 640x360.
final class GeneratedFaceTests: XCTestCase {
    func testDlibFindsAFaceInMostGeneratedFrames() throws {
        let folder = try TemporaryFolder()
        var params = SynthesisParams()
        params.seed = 11
        params.dialogues = [.train: 3, .dev: 1, .test: 1]
        params.utterancesPerDialogue = 3
        params.labelWeights = [1, 1, 1, 1, 1, 1, 1]
        params.plantFaults = false
        try DatasetSynthesizer.write(params, to: folder.path, threads: 2)
        let detector = try FaceDetector()
        var frames = 0, withFace = 0, withTwo = 0
        for clip in DatasetSynthesizer.plan(params) {
            let reader = try MediaReader(path: folder.file(clip.split.clipFolder + "/" + clip.clipName))
            for (_, image) in try reader.frames(count: 6) {
                let faces = try detector.detect(image)
                frames += 1
                if !faces.isEmpty { withFace += 1 }
                if faces.count > 1 { withTwo += 1 }
            }
        }
        print("dlib found a face in \(withFace) of \(frames) generated frames")
        XCTAssertEqual(frames, 90)
        XCTAssertGreaterThanOrEqual(Double(withFace) / Double(frames), 0.9, "\(withFace) of \(frames) frames")
        XCTAssertEqual(withTwo, 0, "one drawn face, one detection")
    }
}

/// Two-person scenes (`people: 2`) are what the issue of the speaker's face needs to measure against: the speaker and a
/// listener, the larger and more central of the two being the listener in about half the clips, so the faces stage's
/// largest-and-central rule finds the speaker about half the time by construction; cuts to the listener alone; a
/// portrait on the wall; and `synthesis/faces.csv` saying who speaks in each frame.
final class TwoPersonSceneTests: XCTestCase {
    func testTheLargestFaceRuleFindsTheDominantFaceWhichIsTheSpeakerInAboutHalfTheClips() throws {
        let folder = try TemporaryFolder()
        var params = SynthesisParams()
        params.seed = 7
        params.people = 2
        params.dialogues = [.train: 4, .dev: 0, .test: 0]
        params.utterancesPerDialogue = 5
        params.frameRate = 12
        params.plantFaults = false
        try DatasetSynthesizer.write(params, to: folder.path, threads: 2)

        struct Drawn { var role: String; var speaking: Bool; var box: (Int, Int, Int, Int) }
        var drawn: [String: [Drawn]] = [:], dominant: [String: String] = [:], cuts: [String: Int] = [:]
        for row in try CSV.parse(String(contentsOfFile: folder.file("synthesis/faces.csv"), encoding: .utf8)).dropFirst() {
            let f = row.fields
            drawn["dia\(f[1])_utt\(f[2]):\(f[3])", default: []].append(Drawn(role: f[4], speaking: f[5] == "true", box: (Int(f[6])!, Int(f[7])!, Int(f[8])!, Int(f[9])!)))
        }
        for row in try CSV.parse(String(contentsOfFile: folder.file("synthesis/scenes.csv"), encoding: .utf8)).dropFirst() {
            let f = row.fields
            dominant["dia\(f[1])_utt\(f[2])"] = f[4] == "true" ? "listener" : "speaker"
            if let cut = Int(f[5]) { cuts["dia\(f[1])_utt\(f[2])"] = cut }
        }
        XCTAssertEqual(dominant.count, 20)
        XCTAssert((1..<20).contains(dominant.values.filter { $0 == "listener" }.count), "both kinds of scene are drawn")
        XCTAssertFalse(cuts.isEmpty, "some clips cut to the listener alone")
        for (key, faces) in drawn {
            XCTAssertLessThanOrEqual(faces.filter(\.speaking).count, 1, key)
            XCTAssert(faces.allSatisfy { !$0.speaking || $0.role == "speaker" }, key)
            let (clip, frame) = (String(key.split(separator: ":")[0]), Int(key.split(separator: ":")[1])!)
            if let cut = cuts[clip], frame >= cut { XCTAssertEqual(faces.map(\.role), ["listener"], "after the cut, the listener alone: \(key)") }
        }

        let detector = try FaceDetector(), predictor = try LandmarkPredictor()
        var (sampled, onDominant, onSpeaker, speaking, onPicture) = (0, 0, 0, 0, 0)
        for clip in DatasetSynthesizer.plan(params) {
            let name = "dia\(clip.dialogue)_utt\(clip.utterance)"
            let frames = try MediaReader(path: folder.file(clip.split.clipFolder + "/" + clip.clipName)).frames(count: 8)
            let record = try ClipFaces.extract(frames: frames, detector: detector, predictor: predictor).record
            for frame in record.frames {
                let index = Int((frame.time * Double(params.frameRate)).rounded())
                guard cuts[name].map({ index < $0 }) ?? true, let chosen = frame.chosen, let faces = drawn["\(name):\(index)"] else { continue }
                let (x, y) = ((chosen.left + chosen.right) / 2, (chosen.top + chosen.bottom) / 2)
                let hit = faces.first { $0.box.0 <= x && x <= $0.box.2 && $0.box.1 <= y && y <= $0.box.3 }
                // In a clip with a cut, the close-up of the listener may be the track the rule takes, carried to the frames before it.
                if cuts[name] == nil {
                    sampled += 1
                    if hit?.role == dominant[name] { onDominant += 1 }
                }
                if hit?.role == "picture" { onPicture += 1 }
                if faces.contains(where: \.speaking) {
                    speaking += 1
                    if hit?.speaking == true { onSpeaker += 1 }
                }
            }
        }
        print("largest-and-central rule: the dominant face in \(onDominant) of \(sampled) frames of clips without a cut; the speaking face in \(onSpeaker) of \(speaking) frames with speech")
        XCTAssertGreaterThan(sampled, 60)
        XCTAssertGreaterThanOrEqual(Double(onDominant) / Double(sampled), 0.9, "the larger, more central face is what the rule takes")
        XCTAssertEqual(onPicture, 0)
        let rate = Double(onSpeaker) / Double(max(speaking, 1))
        XCTAssert((0.2...0.8).contains(rate), "by construction the rule finds the speaker about half the time, not \(rate)")
    }
}
