import Corpora
import Drawing
import Foundation
import Media
import Meld
import ParallelWork
import SeededRandom

/// The folder layout a generated dataset is written in: MELD.Raw's, or one of the corpora the dataset stages read.
public enum SynthesisLayout: String, CaseIterable, Sendable {
    case meld
    case cremaD = "crema-d"
    case ravdess, iemocap, csv

    /// The word this layout's names or labels use for an emotion, and the label its dataset stage reads it as; nil
    /// when the corpus has no such emotion (CREMA-D has no surprise).
    func word(for emotion: Emotion) -> (code: String, label: String)? {
        switch self {
        case .meld, .csv: return (emotion.name, emotion.name)
        case .cremaD:
            let label = ["neutral": "neutral", "joy": "happy", "sadness": "sad", "anger": "anger", "fear": "fear", "disgust": "disgust"][emotion.name]
            return label.flatMap { label in CremaD.emotions.first { $0.label == label }.map { ($0.code, label) } }
        case .ravdess:
            let label = ["neutral": "neutral", "joy": "happy", "sadness": "sad", "anger": "angry", "surprise": "surprised", "fear": "fearful", "disgust": "disgust"][emotion.name]!
            return (String(format: "%02d", Ravdess.emotions.firstIndex(of: label)! + 1), label)
        case .iemocap:
            let code = ["neutral": "neu", "joy": "hap", "sadness": "sad", "anger": "ang", "surprise": "sur", "fear": "fea", "disgust": "dis"][emotion.name]!
            return (code, Iemocap.Classes.six.label(code))
        }
    }
}

/// One recording of a generated corpus: what it shows and says, and where the layout puts it.
struct CorpusRecording: Sendable {
    var utterance: PlannedUtterance
    /// Path under the root.
    var path: String
    /// The layout's label for it (what its dataset stage will call it).
    var label: String
    var sound: Bool { path.hasSuffix(".wav") }
    /// IEMOCAP: the dialogue and the utterance's name.
    var dialog = ""
    var name = ""
}

/// Writes the corpora that are not MELD as their own layouts say, as fully crossed as the real ones: every actor performs
/// every emotion `takes` times (CREMA-D and RAVDESS name each take by sentence, intensity and repetition; IEMOCAP pairs
/// actors in sessions, one dialogue per take; `csv` is a folder and a labels file). Faces and voices are the MELD
/// layout's; `synthesis/truth.csv` gives each file its label in the layout's words and what its face and voice show.
enum CorpusSynthesizer {
    static func plan(_ params: SynthesisParams) -> [CorpusRecording] {
        let layout = params.layout
        let emotions = params.drawn.filter { layout.word(for: $0) != nil }
        var recordings: [CorpusRecording] = []
        for actor in 0..<params.actors {
            var random = SeededRandom(seed: params.seed, 11, actor)
            for emotion in emotions {
                for take in 0..<params.takes {
                    func shown(_ signal: Double) -> Emotion {
                        if random.uniform(0, 1) < signal { return emotion }
                        return params.maskAbsent ? .neutral : emotions[Int(random.next() % UInt64(emotions.count))]
                    }
                    let face = shown(params.visualSignal), voice = shown(params.audioSignal)
                    let (code, label) = layout.word(for: emotion)!
                    var recording = CorpusRecording(utterance: PlannedUtterance(split: .train, dialogue: actor, utterance: recordings.count, speaker: actor, listener: actor,
                                                                                 text: Sentences.line(&random), label: emotion, face: face, voice: voice), path: "", label: label)
                    switch layout {
                    case .meld: preconditionFailure("MELD's layout is DatasetSynthesizer's")
                    case .cremaD:
                        // The take picks the sentence, then the intensity, as CREMA-D crosses them.
                        let sentence = CremaD.sentences.keys.sorted()[take % CremaD.sentences.count]
                        let level = ["XX", "LO", "MD", "HI"][take / CremaD.sentences.count % 4]
                        recording.utterance.text = CremaD.sentences[sentence]!
                        recording.path = "VideoMP4/\(1001 + actor)_\(sentence)_\(code)_\(level).mp4"
                    case .ravdess:
                        // Intensity (neutral has only normal), statement, repetition: the take's digits.
                        let intensities = emotion == .neutral ? 1 : 2
                        let intensity = take % intensities + 1, statement = take / intensities % 2 + 1, repetition = take / intensities / 2 % 2 + 1
                        recording.utterance.text = Ravdess.statements[statement - 1]
                        recording.path = String(format: "Actor_%02d/01-01-%@-%02d-%02d-%02d-%02d.mp4", actor + 1, code, intensity, statement, repetition, actor + 1)
                    case .iemocap:
                        let session = actor / 2 + 1, gender = actor % 2 == 0 ? "F" : "M"
                        recording.dialog = String(format: "Ses%02dF_impro%02d", session, take + 1)
                        recording.name = recording.dialog + "_" + gender + String(format: "%03d", emotions.firstIndex(of: emotion)!)
                        recording.path = "IEMOCAP_full_release/Session\(session)/sentences/wav/\(recording.dialog)/\(recording.name).wav"
                    case .csv:
                        recording.path = String(format: "clips/speaker%02d_%@_%d.mp4", actor + 1, code, take + 1)
                    }
                    recordings.append(recording)
                }
            }
        }
        return recordings
    }

    static func write(_ params: SynthesisParams, to root: String, threads: Int) throws {
        let recordings = plan(params)
        // Each recording's length, and (IEMOCAP, whose dialogues are also filmed whole) how its mouth moves.
        let written = try ParallelWork.map(Array(recordings.indices), threads: threads) { index -> (seconds: Double, mouth: [Double]) in
            let recording = recordings[index]
            let path = root + "/" + recording.path
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            let speech = try DatasetSynthesizer.speak(recording.utterance, params: params)
            if recording.sound {
                try WAVFile.data(speech, sampleRate: DatasetSynthesizer.sampleRate).write(to: URL(fileURLWithPath: path))
                let seconds = Double(speech.count) / Double(DatasetSynthesizer.sampleRate)
                let frames = Int((seconds * Double(params.frameRate)).rounded(.up))
                return (seconds, params.layout == .iemocap ? DatasetSynthesizer.mouthOpening(speech, frames: frames, frameRate: params.frameRate) : [])
            }
            return (try DatasetSynthesizer.writeClip(recording.utterance, speech: speech, params: params, to: path, silent: false).seconds, [])
        }
        let durations = written.map(\.seconds)
        switch params.layout {
        case .iemocap:
            let dialogues = timeline(recordings, durations: durations)
            try writeEvaluations(dialogues, recordings: recordings, to: root)
            let order = dialogues.keys.sorted(), mouths = written.map(\.mouth)
            try ParallelWork.forEach(order.count, threads: threads) { number in
                try writeDialogueVideo(dialogues[order[number]]!, number: number, recordings: recordings, mouths: mouths, params: params,
                                       to: root + "/" + order[number].session + "/dialog/avi/DivX/" + order[number].name + ".avi")
            }
        case .csv:
            var lines = [CSV.line(["file", "label", "speaker"])]
            for recording in recordings {
                lines.append(CSV.line([String(recording.path.dropFirst("clips/".count)), recording.label, String(format: "speaker%02d", recording.utterance.speaker + 1)]))
            }
            try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: root + "/clips/labels.csv"))
        default: break
        }
        try FileManager.default.createDirectory(atPath: root + "/synthesis", withIntermediateDirectories: true)
        var truth = [CSV.line(["file", "speaker", "label", "emotion", "face_shows", "voice_carries", "face_carries_label", "voice_carries_label"])]
        for recording in recordings {
            let clip = recording.utterance
            truth.append(CSV.line([recording.path, String(clip.speaker), recording.label, clip.label.name, clip.face.name, clip.voice.name,
                                   String(clip.face == clip.label), String(clip.voice == clip.label)]))
        }
        try Data((truth.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: root + "/synthesis/truth.csv"))
    }

    /// A dialogue of the IEMOCAP layout: its session folder and name.
    struct Dialogue: Hashable, Comparable {
        var session: String
        var name: String
        static func < (a: Dialogue, b: Dialogue) -> Bool { (a.session, a.name) < (b.session, b.name) }
    }

    /// One utterance's place in its dialogue: the recording's index, its start and length in seconds.
    typealias Turn = (recording: Int, start: Double, seconds: Double)

    /// Each dialogue's utterances in order, a second of silence before the first and half a second between them.
    static func timeline(_ recordings: [CorpusRecording], durations: [Double]) -> [Dialogue: [Turn]] {
        var byDialogue: [Dialogue: [Int]] = [:]
        for (index, recording) in recordings.enumerated() {
            byDialogue[Dialogue(session: recording.path.components(separatedBy: "/sentences/")[0], name: recording.dialog), default: []].append(index)
        }
        return byDialogue.mapValues { indices in
            var clock = 1.0
            return indices.sorted { recordings[$0].name < recordings[$1].name }.map { index in
                defer { clock += durations[index] + 0.5 }
                return (index, clock, durations[index])
            }
        }
    }

    /// IEMOCAP's `EmoEvaluation/DIALOG.txt`: each utterance's interval in its dialogue, code and a valence-arousal-dominance triple.
    static func writeEvaluations(_ dialogues: [Dialogue: [Turn]], recordings: [CorpusRecording], to root: String) throws {
        for (dialogue, turns) in dialogues {
            var text = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
            for turn in turns {
                let recording = recordings[turn.recording]
                let code = SynthesisLayout.iemocap.word(for: recording.utterance.label)!.code
                text += String(format: "[%.4f - %.4f]\t%@\t%@\t[2.5000, 2.5000, 2.5000]\n", turn.start, turn.start + turn.seconds, recording.name, code)
                text += "C-E1:\t\(recording.label);\t()\n\n"
            }
            let file = root + "/" + dialogue.session + "/dialog/EmoEvaluation/" + dialogue.name + ".txt"
            try FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data(text.utf8).write(to: URL(fileURLWithPath: file))
        }
    }

    /// The dialogue filmed whole, as IEMOCAP's `dialog/avi/DivX/DIALOG.avi` (picture only: the sound is each speaker's
    /// WAV): during an utterance its speaker's face with the utterance's expression, the mouth moving with the voice;
    /// between them the next speaker's face, neutral and silent.
    static func writeDialogueVideo(_ turns: [Turn], number: Int, recordings: [CorpusRecording], mouths: [[Double]], params: SynthesisParams,
                                   to path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let rate = Double(params.frameRate)
        let end = (turns.last.map { $0.start + $0.seconds } ?? 0) + 0.5
        let writer = try MP4Writer(path: path, settings: .init(width: params.width, height: params.height, frameRate: params.frameRate,
                                                               sampleRate: DatasetSynthesizer.sampleRate, audio: false))
        let canvas = Canvas(width: params.width, height: params.height)
        var noise = SeededRandom(seed: params.seed, 12, number)
        var next = 0
        for frame in 0..<Int((end * rate).rounded(.up)) {
            let time = Double(frame) / rate
            while next < turns.count - 1 && time >= turns[next].start + turns[next].seconds { next += 1 }
            let turn = turns[next], utterance = recordings[turn.recording].utterance
            let face = DatasetSynthesizer.identity(of: utterance.speaker, params: params).0
            if time >= turn.start && time < turn.start + turn.seconds {
                let mouth = mouths[turn.recording]
                let local = min(mouth.count - 1, Int((time - turn.start) * rate))
                FacePainter.paint(canvas, identity: face, expression: Expression.of(utterance.face), speech: local >= 0 ? mouth[local] : 0, time: time - turn.start)
            } else {
                FacePainter.paint(canvas, identity: face, expression: Expression.of(.neutral), speech: 0, time: time)
            }
            try writer.append(frame: DatasetSynthesizer.noisy(canvas, &noise))
        }
        try writer.finish()
    }
}
