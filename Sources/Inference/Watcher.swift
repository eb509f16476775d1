import AudioFeatures
import Dataset
import EmotionModel
import Faces
import Foundation
import Labels
import Media

/// One prediction of a watch session, in the reference system's `detailed_results` form, with what it rested on.
public struct Detection: Codable, Sendable {
    /// Seconds from the start of the input.
    public var timestamp: Double
    public var emotion: String
    public var confidence: Double
    public var probabilities: [String: Double]
    /// `face_and_voice`; `voice_only` when no face was visible in the window; `face_only` when it was silent;
    /// `neither` when both.
    public var mode: String
    /// Which rule chose the face over the window (`active`: the one whose lips follow the voice; `largest`) and why, as
    /// the faces stage records it per clip; nil when the window showed no face.
    public var speaker: SpeakerRule?
    public var speakerReason: String?

    enum CodingKeys: String, CodingKey {
        case timestamp, emotion, confidence, probabilities, mode, speaker, speakerReason = "speaker_reason"
    }
}

/// A watch session's record in the reference system's format (`session_info`, `emotion_statistics`,
/// `detailed_results`), so its users' tooling reads it.
public struct SessionRecord: Codable, Sendable {
    public struct Info: Codable, Sendable {
        public var startTime: String
        public var durationSeconds: Double
        public var totalDetections: Int
        public var source: String
        public var droppedWindows: Int
        /// How the session ended (`WatchSession.Ending`), and what stopped the input when something did.
        public var ending: String?
        public var error: String?
        /// The arithmetic the model ran in (`fp32` or `int8`).
        public var precision: ServingPrecision?
        enum CodingKeys: String, CodingKey {
            case startTime = "start_time", durationSeconds = "duration_seconds", totalDetections = "total_detections", source
            case droppedWindows = "dropped_windows", ending, error, precision
        }
    }

    public struct Statistics: Codable, Sendable {
        /// Detections per emotion, every class present.
        public var distribution: [String: Int]
        public var averageConfidence: Double
        public var dominantEmotion: String?
        enum CodingKeys: String, CodingKey {
            case distribution, averageConfidence = "average_confidence", dominantEmotion = "dominant_emotion"
        }
    }

    public var sessionInfo: Info
    public var emotionStatistics: Statistics
    public var detailedResults: [Detection]

    enum CodingKeys: String, CodingKey {
        case sessionInfo = "session_info", emotionStatistics = "emotion_statistics", detailedResults = "detailed_results"
    }

    public init(source: String, classes: LabelSet, started: Date, duration: Double, detections: [Detection], dropped: Int, precision: ServingPrecision = .fp32) {
        let formatter = ISO8601DateFormatter()
        sessionInfo = Info(startTime: formatter.string(from: started), durationSeconds: duration, totalDetections: detections.count, source: source,
                           droppedWindows: dropped, precision: precision)
        var counts = Dictionary(uniqueKeysWithValues: classes.map { ($0, 0) })
        for detection in detections { counts[detection.emotion, default: 0] += 1 }
        // Of equal counts, the class first in the model's order.
        let dominant = detections.isEmpty ? nil : classes[classes.majority(counts)]
        emotionStatistics = Statistics(distribution: counts,
                                       averageConfidence: detections.isEmpty ? 0 : detections.map(\.confidence).reduce(0, +) / Double(detections.count),
                                       dominantEmotion: dominant)
        detailedResults = detections
    }

    /// Writes the record to a temporary name beside `path` and renames it into place.
    public func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        try encoder.encode(self).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}

/// Labels a stream as it plays: a sliding window of the last `window` seconds (the model's `mel_frames` of audio, 3 s
/// at the defaults) and the face frames sampled over it, a prediction `rate` times a second of input. Every face is
/// followed at the faces stage's analysis rate and the window's face is chosen as the stage chooses a clip's
/// (`StreamFaces`), its chips cut on about twice as many frames as the model reads per window; the inputs are made as
/// the stages make them (chips, log-mel, normalisation), so a watched clip is read as trained.
public final class Watcher {
    public let trained: TrainedModel
    public let rate: Double
    /// Seconds of input each prediction reads.
    public let window: Double
    /// Below this RMS (dBFS) the window counts as silent.
    public var silenceDB = -50.0
    /// Engine threads for the forward passes.
    public var threads = ProcessInfo.processInfo.activeProcessorCount

    private let spectrogram: LogMelSpectrogram
    /// Nil for a model that reads no faces.
    private let faces: StreamFaces?
    private let readsVideo: Bool, readsAudio: Bool
    /// The recent audio, its first sample at `audioStart` seconds.
    private var audio: [Float] = []
    private var audioStart = 0.0
    private var videoTime = 0.0, audioTime = 0.0
    private var nextPrediction: Double
    /// The latest frame and the followed face's box in it, for snapshots and status lines.
    public private(set) var latestFrame: RGBImage?
    public var latestBox: FaceBox? { faces?.latestBox }
    /// Seconds of input seen.
    public private(set) var position = 0.0

    /// `video`, `audio`: whether the input has each (a prediction waits for every one it has to reach its time, so
    /// how a source interleaves them does not change what a prediction reads). `detectEvery`: of the frames followed,
    /// the detector searches every this many (and each cut), the landmarks follow the faces between; nil, as the model's
    /// faces stage did (`analysis_detect_every` in MODEL.md: more trades some sureness about lips for speed).
    public init(_ trained: TrainedModel, rate: Double = 2, video: Bool = true, audio: Bool = true, detectEvery: Int? = nil) throws {
        self.trained = trained
        self.rate = rate
        let mel = trained.mel
        window = Double(trained.melFrames * mel.hopLength) / Double(mel.sampleRate)
        spectrogram = LogMelSpectrogram(mel)
        faces = trained.model.visual == nil ? nil
            : StreamFaces(detector: try FaceDetector(settings: trained.faces), predictor: try LandmarkPredictor(path: trained.faces.predictor), settings: trained.faces,
                          detectEvery: detectEvery ?? trained.faces.analysisDetectEvery, keepEvery: window / Double(2 * trained.faces.frames), horizon: 2 * window)
        nextPrediction = 1 / rate
        (readsVideo, readsAudio) = (video, audio)
    }

    /// Takes one event of the stream; returns the times of the predictions now due (the caller runs `predict` for each,
    /// or counts it dropped).
    public func feed(_ event: MediaStream.Event) throws -> [Double] {
        switch event {
        case let .video(time, image):
            latestFrame = image
            videoTime = max(videoTime, time)
            try faces?.take(image, at: time)
        case let .audio(time, samples):
            if audio.isEmpty { audioStart = time }
            audio.append(contentsOf: samples)
            audioTime = audioStart + Double(audio.count) / Double(trained.mel.sampleRate)
            let keep = Int(2 * window * Double(trained.mel.sampleRate))
            if audio.count > 2 * keep {
                let drop = audio.count - keep
                audio.removeFirst(drop)
                audioStart += Double(drop) / Double(trained.mel.sampleRate)
            }
        }
        position = max(videoTime, audioTime)
        let reached = min(readsVideo ? videoTime : .infinity, readsAudio ? audioTime : .infinity)
        return due(upTo: reached)
    }

    /// The predictions still due at the end of the input: up to where it reached.
    public func finish() -> [Double] { due(upTo: position) }

    private func due(upTo time: Double) -> [Double] {
        var times: [Double] = []
        while nextPrediction <= time + 1e-9 {
            times.append(nextPrediction)
            nextPrediction += 1 / rate
        }
        return times
    }

    /// The prediction for the window ending at `time`.
    public func predict(at time: Double) throws -> Detection {
        let settings = trained.faces, span = trained.melFrames
        let chipBytes = settings.size * settings.size * 3
        // Tv frames at the middles of Tv equal spans of the window, each the chosen face's kept chip nearest its time (as
        // the faces stage carries a face to the sampled frames where it was missed).
        let targets = (0..<settings.frames).map { time - window + (Double($0) + 0.5) * window / Double(settings.frames) }
        let seen = faces?.window(from: time - window, to: time, targets: targets, audio: audio, audioStart: audioStart, sampleRate: trained.mel.sampleRate)
        var chips = [UInt8](repeating: 0, count: settings.frames * chipBytes)
        for (index, face) in (seen?.faces ?? []).enumerated() {
            if let face { chips.replaceSubrange(index * chipBytes..<(index + 1) * chipBytes, with: face.chip) }
        }
        let withFace = seen?.faces.filter { $0 != nil }.count ?? 0
        let config = trained.mel
        // The samples of [time - window, time], by their times.
        let rate = Double(config.sampleRate)
        let end = min(audio.count, max(0, Int(((time - audioStart) * rate).rounded())))
        let recent = Array(audio[max(0, end - Int((window * rate).rounded()))..<end])
        let rms = recent.isEmpty ? 0 : (recent.map { Double($0) * Double($0) }.reduce(0, +) / Double(recent.count)).squareRoot()
        let silent = recent.isEmpty || 20 * log10(max(rms, 1e-10)) < silenceDB
        let samples = recent.isEmpty ? [Float](repeating: 0, count: span * config.hopLength) : recent
        let logMel = spectrogram.logMel(samples)
        let length = spectrogram.frameCount(samples: samples.count)
        var mel = [Float](repeating: 0, count: config.melBands * span)
        logMel.withUnsafeBufferPointer { source in
            mel.withUnsafeMutableBufferPointer { out in
                // The most recent span frames (all of a shorter window, padded at the end with its floor).
                BatchSettings.melWindow(source, timeMajor: false, length: length, bands: config.melBands, start: max(0, length - span), span: span,
                                        floor: BatchSettings.melFloor(logMel, topDB: Float(config.topDB)), into: out.baseAddress!)
            }
        }
        let probabilities = try trained.probabilities(chips: [chips], mel: [mel], threads: threads)[0]
        let best = probabilities.indices.max { probabilities[$0] < probabilities[$1] }!
        let mode = withFace > 0 ? (silent ? "face_only" : "face_and_voice") : (silent ? "neither" : "voice_only")
        return Detection(timestamp: time, emotion: trained.classes[best], confidence: probabilities[best],
                         probabilities: Dictionary(uniqueKeysWithValues: zip(trained.classes, probabilities)), mode: mode,
                         speaker: seen?.choice?.rule, speakerReason: seen?.choice?.reason)
    }
}
