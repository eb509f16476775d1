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
    /// Twenty two-person clips (640x360, 12 frames per second) and their truth, generated once for the tests below.
    private struct Scenes {
        struct Drawn { var role: String; var speaking: Bool; var box: (Int, Int, Int, Int) }
        let folder: TemporaryFolder
        let params: SynthesisParams
        var drawn: [String: [Drawn]] = [:], dominant: [String: String] = [:], cuts: [String: Int] = [:]

        init() throws {
            folder = try TemporaryFolder()
            var params = SynthesisParams()
            params.seed = 7
            params.people = 2
            params.dialogues = [.train: 4, .dev: 0, .test: 0]
            params.utterancesPerDialogue = 5
            params.frameRate = 12
            params.plantFaults = false
            self.params = params
            try DatasetSynthesizer.write(params, to: folder.path, threads: 2)
            for row in try CSV.parse(String(contentsOfFile: folder.file("synthesis/faces.csv"), encoding: .utf8)).dropFirst() {
                let f = row.fields
                drawn["dia\(f[1])_utt\(f[2]):\(f[3])", default: []].append(Drawn(role: f[4], speaking: f[5] == "true", box: (Int(f[6])!, Int(f[7])!, Int(f[8])!, Int(f[9])!)))
            }
            for row in try CSV.parse(String(contentsOfFile: folder.file("synthesis/scenes.csv"), encoding: .utf8)).dropFirst() {
                let f = row.fields
                dominant["dia\(f[1])_utt\(f[2])"] = f[4] == "true" ? "listener" : "speaker"
                if let cut = Int(f[5]) { cuts["dia\(f[1])_utt\(f[2])"] = cut }
            }
        }

        /// The faces stage on every clip with `rule`: per clip, the role of the face chosen in each sampled frame before
        /// any cut (nil where the chosen box is on no drawn face), whether someone speaks there, and the record.
        func choices(_ rule: SpeakerRule) throws -> [(name: String, frames: [(role: String?, speech: Bool)], record: ClipFaceRecord)] {
            let detector = try FaceDetector(), predictor = try LandmarkPredictor()
            var settings = FaceSettings()
            settings.speaker = rule
            return try DatasetSynthesizer.plan(params).map { clip in
                let name = "dia\(clip.dialogue)_utt\(clip.utterance)", path = folder.file(clip.split.clipFolder + "/" + clip.clipName)
                let record = try ClipFaces.extract(frames: try MediaReader(path: path).frames(count: 8), detector: detector, predictor: predictor, settings: settings,
                                                   analysis: { try ClipFaces.analysisInput(ClipSource(file: path), settings: settings) }).record
                return (name, record.frames.compactMap { frame in frame.chosen.flatMap { role(of: $0, at: frame.time, in: name) } }, record)
            }
        }

        /// Whose face `box` is at `time` of clip `name` (nil when it is on no drawn face), and whether someone speaks
        /// there; nil after a cut, or where the frame has no truth.
        func role(of box: FaceBox, at time: Double, in name: String) -> (role: String?, speech: Bool)? {
            let index = Int((time * Double(params.frameRate)).rounded())
            guard cuts[name].map({ index < $0 }) ?? true, let faces = drawn["\(name):\(index)"] else { return nil }
            let (x, y) = ((box.left + box.right) / 2, (box.top + box.bottom) / 2)
            return (faces.first { $0.box.0 <= x && x <= $0.box.2 && $0.box.1 <= y && y <= $0.box.3 }?.role, faces.contains(where: \.speaking))
        }

        /// Each clip played as a stream through `StreamFaces` (as `emotion watch` reads it), its window the whole clip:
        /// the role of the chosen face at 8 times before any cut, whether a face was given after the cut, and the choice.
        func streamed(detectEvery: Int) throws -> [(name: String, frames: [(role: String?, speech: Bool)], afterCut: [Bool], choice: SpeakerChoice?)] {
            let detector = try FaceDetector(), predictor = try LandmarkPredictor()
            return try DatasetSynthesizer.plan(params).map { clip in
                let name = "dia\(clip.dialogue)_utt\(clip.utterance)"
                let faces = StreamFaces(detector: detector, predictor: predictor, settings: FaceSettings(), detectEvery: detectEvery, keepEvery: 0, horizon: 60)
                let stream = try MediaStream(source: folder.file(clip.split.clipFolder + "/" + clip.clipName))
                var (audio, audioStart, end): ([Float], Double?, Double) = ([], nil, 0)
                while let event = try stream.next() {
                    switch event {
                    case let .video(time, image):
                        try faces.take(image, at: time)
                        end = max(end, time)
                    case let .audio(time, samples):
                        audioStart = audioStart ?? time
                        audio.append(contentsOf: samples)
                    }
                }
                let targets = (0..<8).map { (Double($0) + 0.5) * end / 8 }
                let window = faces.window(from: 0, to: end, targets: targets, audio: audio, audioStart: audioStart ?? 0, sampleRate: 16_000)
                let afterCut = cuts[name].map { cut in zip(targets, window.faces).filter { $0.0 >= Double(cut) / Double(params.frameRate) }.map { $0.1 != nil } } ?? []
                return (name, window.faces.compactMap { face in face.flatMap { role(of: $0.box, at: $0.time, in: name) } }, afterCut, window.choice)
            }
        }
    }

    /// One test for the generated set (made once): its truth, then both rules on it.
    func testTheTruthThenTheLargestRuleThenTheActiveRule() throws {
        let scenes = try Scenes()
        try checkTruth(scenes)
        try checkLargestRule(scenes)
        try checkActiveRule(scenes)
        try checkTheChoiceIsTheSameOnOneThreadAndTwo(scenes)
        try checkAStreamChoosesAsTheStage(scenes)
    }

    /// `emotion watch` chooses a window's face by the stage's rule: on the same clips, played as streams with the window
    /// their whole length, it decides about as often and as rightly as the stage, and gives no face after a cut to the
    /// listener alone; with the detector on every third frame (`--detect-every 3`), nearly as rightly.
    private func checkAStreamChoosesAsTheStage(_ scenes: Scenes) throws {
        for detectEvery in [1, 3] {
            let clips = try scenes.streamed(detectEvery: detectEvery)
            let decided = clips.filter { $0.choice?.rule == .active }
            let right = decided.filter { clip in clip.frames.filter { $0.role == "speaker" }.count * 2 > clip.frames.count }.count
            let speech = clips.flatMap(\.frames).filter(\.speech)
            let afterCut = decided.flatMap(\.afterCut)
            print("a stream, the detector on every \(detectEvery) frame(s): decided \(decided.count) of \(clips.count) clips, the speaker in \(right) of them; "
                  + "the speaking face in \(speech.filter { $0.role == "speaker" }.count) of \(speech.count) frames with speech; \(afterCut.count) times after a cut")
            XCTAssert(clips.allSatisfy { $0.choice != nil && !$0.choice!.reason.isEmpty })
            XCTAssertFalse(clips.flatMap(\.frames).contains { $0.role == "picture" })
            XCTAssertGreaterThanOrEqual(Double(decided.count), 0.7 * Double(clips.count), "the lips of the speaker are clear in most clips")
            XCTAssertGreaterThanOrEqual(Double(right), (detectEvery == 1 ? 0.95 : 0.85) * Double(decided.count), "a clear choice is the speaker")
            XCTAssertFalse(afterCut.contains(true), "no face after a cut to the listener alone, where the speaker was chosen")
            XCTAssertGreaterThan(afterCut.count, 0, "some clear choices are in clips with a cut")
        }
    }

    /// The analysis searches frames on as many threads as it has detectors; its record is the same, byte for byte.
    private func checkTheChoiceIsTheSameOnOneThreadAndTwo(_ scenes: Scenes) throws {
        let predictor = try LandmarkPredictor()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        for clip in DatasetSynthesizer.plan(scenes.params).prefix(4) {
            let path = scenes.folder.file(clip.split.clipFolder + "/" + clip.clipName)
            let records = try [1, 2].map { threads in
                try encoder.encode(ClipFaces.extract(frames: try MediaReader(path: path).frames(count: 8), detectors: try (0..<threads).map { _ in try FaceDetector() },
                                                     predictor: predictor, analysis: { try ClipFaces.analysisInput(ClipSource(file: path), settings: FaceSettings()) }).record)
            }
            XCTAssertEqual(records[0], records[1], clip.clipName)
        }
    }

    private func checkTruth(_ scenes: Scenes) throws {
        XCTAssertEqual(scenes.dominant.count, 20)
        XCTAssert((1..<20).contains(scenes.dominant.values.filter { $0 == "listener" }.count), "both kinds of scene are drawn")
        XCTAssertFalse(scenes.cuts.isEmpty, "some clips cut to the listener alone")
        for (key, faces) in scenes.drawn {
            XCTAssertLessThanOrEqual(faces.filter(\.speaking).count, 1, key)
            XCTAssert(faces.allSatisfy { !$0.speaking || $0.role == "speaker" }, key)
            let (clip, frame) = (String(key.split(separator: ":")[0]), Int(key.split(separator: ":")[1])!)
            if let cut = scenes.cuts[clip], frame >= cut { XCTAssertEqual(faces.map(\.role), ["listener"], "after the cut, the listener alone: \(key)") }
        }
    }

    /// The largest-and-central rule takes the dominant face, which is the speaker about half the time.
    private func checkLargestRule(_ scenes: Scenes) throws {
        let clips = try scenes.choices(.largest)
        // In a clip with a cut, the close-up of the listener may be the track the rule takes, carried to the frames before it.
        let uncut = clips.filter { scenes.cuts[$0.name] == nil }.flatMap { clip in clip.frames.map { ($0.role, scenes.dominant[clip.name]) } }
        let onDominant = uncut.filter { $0.0 == $0.1 }.count
        let speech = clips.flatMap(\.frames).filter(\.speech)
        let onSpeaker = speech.filter { $0.role == "speaker" }.count
        print("largest-and-central rule: the dominant face in \(onDominant) of \(uncut.count) frames of clips without a cut; the speaking face in \(onSpeaker) of \(speech.count) frames with speech")
        XCTAssertGreaterThan(uncut.count, 60)
        XCTAssertGreaterThanOrEqual(Double(onDominant) / Double(uncut.count), 0.9, "the larger, more central face is what the rule takes")
        XCTAssertFalse(clips.flatMap(\.frames).contains { $0.role == "picture" })
        XCTAssert((0.2...0.8).contains(Double(onSpeaker) / Double(max(speech.count, 1))), "by construction the rule finds the speaker about half the time")
    }

    /// The active rule takes the face whose lips follow the voice where it is clear, and says when it is not.
    private func checkActiveRule(_ scenes: Scenes) throws {
        let clips = try scenes.choices(.active)
        var (decided, right, afterCut) = (0, 0, 0)
        for clip in clips {
            let speaker = try XCTUnwrap(clip.record.speaker, clip.name)
            XCTAssertEqual(speaker.analysisFrames > 0, clip.record.tracks > 1, "lips are followed where the sampled frames show several faces: \(clip.name)")
            guard speaker.rule == .active else {
                XCTAssertFalse(speaker.reason.isEmpty)
                continue
            }
            decided += 1
            // No chip from the wrong side of a cut: after the cut to the listener alone, the speaker is not in view.
            if let cut = scenes.cuts[clip.name] {
                for frame in clip.record.frames where Int((frame.time * Double(scenes.params.frameRate)).rounded()) >= cut {
                    XCTAssertNil(frame.chosen, "\(clip.name): the frame at \(frame.time) s is after the cut to the listener alone")
                    afterCut += 1
                }
            }
            // The clip's choice is right when the chosen face is the speaker's in most sampled frames before any cut.
            if clip.frames.filter({ $0.role == "speaker" }).count * 2 > clip.frames.count { right += 1 }
            XCTAssertFalse(clip.frames.contains { $0.role == "picture" }, clip.name)
        }
        let speech = clips.flatMap(\.frames).filter(\.speech)
        let onSpeaker = speech.filter { $0.role == "speaker" }.count
        print("active rule: decided \(decided) of \(clips.count) clips, the speaker in \(right) of them; the speaking face in \(onSpeaker) of \(speech.count) frames with speech")
        let found = clips.filter { clip in clip.frames.filter { $0.role == "speaker" }.count * 2 > clip.frames.count }.count
        print("with its fallback, the speaker's face in \(found) of \(clips.count) clips")
        XCTAssertGreaterThanOrEqual(Double(decided), 0.7 * Double(clips.count), "the lips of the speaker are clear in most clips")
        XCTAssertGreaterThanOrEqual(Double(right), 0.95 * Double(decided), "a clear choice is the speaker")
        XCTAssertGreaterThan(afterCut, 0, "some clear choices are in clips with a cut")
        print("frames after a cut to the listener alone, in clips where the speaker was chosen: \(afterCut), none with a chip")
    }
}
