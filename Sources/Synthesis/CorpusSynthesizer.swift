import Corpora
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
        let durations = try ParallelWork.map(Array(recordings.indices), threads: threads) { index -> Double in
            let recording = recordings[index]
            let path = root + "/" + recording.path
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            let speech = try DatasetSynthesizer.speak(recording.utterance, params: params)
            if recording.sound {
                try WAVFile.data(speech, sampleRate: DatasetSynthesizer.sampleRate).write(to: URL(fileURLWithPath: path))
                return Double(speech.count) / Double(DatasetSynthesizer.sampleRate)
            }
            return try DatasetSynthesizer.writeClip(recording.utterance, speech: speech, params: params, to: path, silent: false).seconds
        }
        switch params.layout {
        case .iemocap: try writeEvaluations(recordings, durations: durations, to: root)
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

    /// IEMOCAP's `EmoEvaluation/DIALOG.txt`: each utterance's interval in its dialogue, code and a valence-arousal-dominance triple.
    static func writeEvaluations(_ recordings: [CorpusRecording], durations: [Double], to root: String) throws {
        var byDialog: [String: [(CorpusRecording, Double)]] = [:]
        for (recording, duration) in zip(recordings, durations) {
            let session = (recording.path.components(separatedBy: "/sentences/")[0])
            byDialog[session + "/dialog/EmoEvaluation/" + recording.dialog + ".txt", default: []].append((recording, duration))
        }
        for (path, turns) in byDialog {
            var text = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
            var clock = 1.0
            for (recording, duration) in turns.sorted(by: { $0.0.name < $1.0.name }) {
                let code = SynthesisLayout.iemocap.word(for: recording.utterance.label)!.code
                text += String(format: "[%.4f - %.4f]\t%@\t%@\t[2.5000, 2.5000, 2.5000]\n", clock, clock + duration, recording.name, code)
                text += "C-E1:\t\(recording.label);\t()\n\n"
                clock += duration + 0.5
            }
            let file = root + "/" + path
            try FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data(text.utf8).write(to: URL(fileURLWithPath: file))
        }
    }
}
