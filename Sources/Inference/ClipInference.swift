import AudioFeatures
import Dataset
import EmotionModel
import Faces
import Foundation
import Media

/// One file's prediction, as `emotion infer` prints it (one JSON line).
public struct ClipPrediction: Codable, Sendable {
    public var file: String
    /// The seven probabilities in `classes` order, the most probable class and its probability; nil when the file failed.
    public var probabilities: [Double]?
    public var label: String?
    public var confidence: Double?
    /// `face_and_voice`, `voice_only` (no video stream, or a face model fed none) or `face_only` (no audio stream).
    public var mode: String?
    public var hasVideo: Bool?
    public var hasAudio: Bool?
    /// Whether a face was found, and in how many of the sampled frames it was detected (not carried over).
    public var faceFound: Bool?
    public var faceFrames: Int?
    public var framesSampled: Int?
    /// The file's length and the span of it the voice window covers (the model reads `mel_frames` frames: the centre
    /// of a longer file, as evaluation does); the face frames are sampled over the whole file.
    public var duration: Double?
    public var audioWindow: [Double]?
    /// Wall time spent on this file: decoding, faces, log-mel and its share of its batch's forward pass.
    public var seconds: Double
    public var error: String?

    enum CodingKeys: String, CodingKey {
        case file, probabilities, label, confidence, mode, duration, seconds, error
        case hasVideo = "video", hasAudio = "audio", faceFound = "face_found", faceFrames = "face_frames", framesSampled = "frames_sampled"
        case audioWindow = "audio_window"
    }
}

/// Labels files with a trained model, preparing each input exactly as the pipeline's stages prepared the training
/// clips: the faces stage's sampling and alignment, the mel stage's log-mel, evaluation's centre window and
/// normalisation. Clips are prepared one after another (each one's frames searched on every core) and scored in batches.
public final class ClipInference {
    public let trained: TrainedModel
    private let spectrogram: LogMelSpectrogram
    private let detectors: [FaceDetector]
    private var predictor: LandmarkPredictor?
    /// Engine threads for the forward passes.
    public var threads = ProcessInfo.processInfo.activeProcessorCount

    public init(_ trained: TrainedModel) throws {
        self.trained = trained
        spectrogram = LogMelSpectrogram(trained.mel)
        // The detector the model's faces were found with (MTCNN's weights read only for a model that reads faces).
        detectors = trained.fusion.usesVisual ? try (0..<max(1, min(ProcessInfo.processInfo.activeProcessorCount, 4))).map { _ in try FaceDetector(settings: trained.faces) } : []
    }

    /// One file's inputs in the model's layout and what was found in it.
    struct Prepared {
        var chips: [UInt8]
        var mel: [Float]
        var prediction: ClipPrediction
    }

    /// Predictions for `files` in order, `batch` clips per forward pass; `report` receives each as soon as its batch is
    /// scored. A file that cannot be read gets a prediction with `error` naming why, and the others go on.
    public func predict(_ files: [String], batch: Int = 8, report: (ClipPrediction) -> Void = { _ in }) -> [ClipPrediction] {
        var all: [ClipPrediction] = []
        for start in stride(from: 0, to: files.count, by: max(batch, 1)) {
            var prepared: [Prepared] = []
            var finished: [Int: ClipPrediction] = [:]
            let chunk = Array(files[start..<min(start + max(batch, 1), files.count)])
            for (index, file) in chunk.enumerated() {
                let began = Date()
                do {
                    var clip = try prepare(file)
                    clip.prediction.seconds = Date().timeIntervalSince(began)
                    prepared.append(clip)
                } catch {
                    finished[index] = ClipPrediction(file: file, seconds: Date().timeIntervalSince(began), error: "\(error)")
                }
            }
            if !prepared.isEmpty {
                let began = Date()
                do {
                    let scored = try score(prepared)
                    let share = Date().timeIntervalSince(began) / Double(prepared.count)
                    var next = scored.makeIterator()
                    for index in chunk.indices where finished[index] == nil {
                        var prediction = next.next()!
                        prediction.seconds += share
                        finished[index] = prediction
                    }
                } catch {
                    for index in chunk.indices where finished[index] == nil {
                        finished[index] = ClipPrediction(file: chunk[index], seconds: 0, error: "\(error)")
                    }
                }
            }
            for index in chunk.indices {
                report(finished[index]!)
                all.append(finished[index]!)
            }
        }
        return all
    }

    /// Decodes a file and makes the model's inputs: the face chips (zero when there is no face, or no video: what the
    /// model saw for clips without a face) and the centre window of the log-mel (of silence when there is no audio).
    func prepare(_ file: String) throws -> Prepared {
        let fusion = trained.fusion, settings = trained.faces
        let reader: MediaReader
        do { reader = try MediaReader(path: file) } catch { throw InferenceError("\(file): \(error)") }
        let readsVideo = fusion.usesVisual && reader.hasVideo, readsAudio = fusion.usesAudio && reader.hasAudio
        if fusion == .visual && !reader.hasVideo { throw InferenceError("\(file): no video stream, and the model reads the face alone") }
        if fusion == .audio && !reader.hasAudio { throw InferenceError("\(file): no audio stream, and the model reads the voice alone") }
        var prediction = ClipPrediction(file: file, hasVideo: reader.hasVideo, hasAudio: reader.hasAudio, duration: reader.duration, seconds: 0)
        prediction.mode = readsVideo && readsAudio ? "face_and_voice" : readsAudio || !fusion.usesVisual ? "voice_only" : "face_only"

        let chipBytes = settings.size * settings.size * 3
        var chips = [UInt8](repeating: 0, count: settings.frames * chipBytes)
        if readsVideo {
            let frames: [(time: Double, image: RGBImage)], analysis: () throws -> ClipFaces.AnalysisInput
            do { (frames, analysis) = try ClipFaces.read(ClipSource(file: file), settings: settings) } catch { throw InferenceError("\(file): \(error)") }
            // The speaker's face as the faces stage chooses it (with `speaker: active`, following lips at the analysis rate).
            let faces = try ClipFaces.extract(frames: frames, detectors: detectors, predictor: try landmarkPredictor(), settings: settings, analysis: analysis)
            for (index, chip) in faces.chips.enumerated() { chips.replaceSubrange(index * chipBytes..<(index + 1) * chipBytes, with: chip.pixels) }
            prediction.faceFound = faces.record.status == .ok
            prediction.faceFrames = faces.record.frames.filter(\.chosenDetected).count
            prediction.framesSampled = frames.count
        }

        let config = trained.mel, span = trained.melFrames
        var samples: [Float]
        if readsAudio {
            do { samples = try reader.audio(sampleRate: config.sampleRate) } catch { throw InferenceError("\(file): \(error)") }
        } else {
            samples = [Float](repeating: 0, count: span * config.hopLength)
        }
        let logMel = spectrogram.logMel(samples)
        let length = spectrogram.frameCount(samples: samples.count)
        let start = BatchSettings.centredStart(length: length, span: span)
        var mel = [Float](repeating: 0, count: config.melBands * span)
        logMel.withUnsafeBufferPointer { source in
            mel.withUnsafeMutableBufferPointer { out in
                BatchSettings.melWindow(source, timeMajor: false, length: length, bands: config.melBands, start: start, span: span,
                                        floor: BatchSettings.melFloor(logMel, topDB: Float(config.topDB)), into: out.baseAddress!)
            }
        }
        if readsAudio {
            let secondsPerFrame = Double(config.hopLength) / Double(config.sampleRate)
            prediction.audioWindow = [Double(start) * secondsPerFrame, Double(min(start + span, length)) * secondsPerFrame]
        }
        return Prepared(chips: chips, mel: mel, prediction: prediction)
    }

    private func landmarkPredictor() throws -> LandmarkPredictor {
        if let predictor { return predictor }
        let made = try LandmarkPredictor(path: trained.faces.predictor)
        predictor = made
        return made
    }

    /// The probabilities of prepared clips, in one forward pass.
    func score(_ clips: [Prepared]) throws -> [ClipPrediction] {
        let rows = try trained.probabilities(chips: clips.map(\.chips), mel: clips.map(\.mel), threads: threads)
        return zip(clips, rows).map { clip, row in
            var prediction = clip.prediction
            let best = row.indices.max { row[$0] < row[$1] }!
            prediction.probabilities = row
            prediction.label = trained.classes[best]
            prediction.confidence = row[best]
            return prediction
        }
    }
}
