import AudioFeatures
import Dataset
import EmotionModel
import Faces
import Labels
import ModelContract
import Foundation
import NN
import OneDNN
import Safetensors
import Tensor

/// The arithmetic a served model runs in: floats, bf16 operands with fp32 sums (where the CPU has AVX512_BF16 or AMX),
/// or the int8 model of an export (`model_int8.onnx`'s, the face trunk on the CPU's integer instructions with the
/// activation scales of `model_int8.json`).
public enum ServingPrecision: String, CaseIterable, Sendable, Codable {
    case fp32, bf16, int8

    /// The autocast precision of the float model's convolutions and matrix products.
    var operands: Precision { self == .bf16 ? .bf16 : .fp32 }
}

/// A trained model with the settings its inputs were made with, so that what is served is what was trained: an export
/// folder (`model.safetensors` and `model_info.json`) or a train stage's output (`best.safetensors` and `train.json`).
public final class TrainedModel {
    public let model: EmotionModel
    public let fusion: Fusion
    /// The classes it predicts, in output order.
    public let classes: LabelSet
    /// How the faces stage sampled and aligned the training clips' frames.
    public let faces: FaceSettings
    /// How the mel stage made their log-mel.
    public let mel: LogMelConfig
    /// Mel frames the model reads (Ta).
    public let melFrames: Int
    public let weights: String
    public let precision: ServingPrecision

    public init(folder: String, precision: ServingPrecision = .fp32) throws {
        let described: TrainedModelFolder
        do { described = try TrainedModelFolder(folder) } catch { throw InferenceError("\(error)") }
        guard let features = described.features else {
            throw InferenceError("\(described.describedBy) records no input features (a training on data no pipeline made): train on shards or export it again")
        }
        fusion = described.fusion
        classes = described.classes
        weights = described.weights
        melFrames = described.melFrames
        faces = TrainedModel.faceSettings(features)
        mel = TrainedModel.melConfig(features.mel)
        model = EmotionModel(fusion: fusion, classes: classes.count, dropout: 0)
        do { try model.loadStateDictionary(try SafetensorsFile(path: weights)) }
        catch { throw InferenceError("\(weights): \(error)") }
        model.eval()
        self.precision = precision
        switch precision {
        case .fp32:
            model.prepareForInference()
        case .bf16:
            if let why = Precision.bf16.unsupported { throw InferenceError("--precision bf16: \(why); use fp32") }
            model.prepareForInference()
        case .int8:
            var calibration: TrunkCalibration?
            if let visual = model.visual {
                let file = (folder as NSString).appendingPathComponent(TrunkCalibration.fileName)
                guard FileManager.default.fileExists(atPath: file) else {
                    throw InferenceError("\(folder) has no \(TrunkCalibration.fileName), the int8 face trunk's activation scales: run int8 from an export made with a calibration split (the export stage, or `emotion export --shards`)")
                }
                do { calibration = try TrunkCalibration(file: file, for: visual.backbone) } catch { throw InferenceError("\(error)") }
            }
            model.quantize(trunk: calibration)
        }
    }

    /// Each clip's class probabilities, in one forward pass with `threads` engine threads: `chips` uint8 `(Tv, size,
    /// size, 3)` per clip (zeros for no face), `mel` the model's `(bands, mel_frames)` per clip. `infer` and `watch` both
    /// score here, so both feed the model as evaluation does.
    public func probabilities(chips: [[UInt8]], mel: [[Float]], threads: Int) throws -> [[Double]] {
        let count = chips.count, imageValues = faces.frames * 3 * faces.size * faces.size
        var frames = [Float](repeating: 0, count: fusion.usesVisual ? count * imageValues : 0)
        if fusion.usesVisual {
            frames.withUnsafeMutableBufferPointer { out in
                for (slot, clip) in chips.enumerated() {
                    clip.withUnsafeBufferPointer {
                        BatchSettings.modelInput(chips: $0, frames: faces.frames, size: faces.size, into: out.baseAddress! + slot * imageValues)
                    }
                }
            }
        }
        let before = DNNL.threads
        DNNL.threads = threads
        defer { DNNL.threads = before }
        let probabilities = try withoutGrad {
            softmax(try withPrecision(precision.operands) {
                try model.logits(count: count, frames: frames, tv: faces.frames, size: faces.size, mel: mel.flatMap { $0 },
                                 bands: self.mel.melBands, melFrames: melFrames)
            })
        }
        let classes = self.classes.count
        return (0..<count).map { slot in (0..<classes).map { Double(probabilities.pointer[slot * classes + $0]) } }
    }

    /// The faces stage's settings as the shards recorded them (each as text), over the defaults for what they lack.
    static func faceSettings(_ features: ShardIndex.Features) -> FaceSettings {
        var settings = FaceSettings()
        settings.frames = features.frames
        settings.size = features.size
        let recorded = features.faces ?? [:]
        if let value = recorded["max_side"].flatMap(Int.init) { settings.maxSide = value }
        // A model trained before the faces stage had a CNN detector saw HOG's faces alone.
        settings.detector = recorded["detector"].flatMap(DetectorChoice.init) ?? .hog
        if let value = recorded["cnn_weights"] { settings.cnnWeights = value }
        if let value = recorded["cnn_min_face"].flatMap(Int.init) { settings.cnnMinimumFace = value }
        if let value = recorded["padding"].flatMap(Double.init) { settings.padding = value }
        if let value = recorded["predictor"] { settings.predictor = value }
        // A model trained before the faces stage chose the speaking face saw the largest.
        settings.speaker = recorded["speaker"].flatMap(SpeakerRule.init) ?? .largest
        if let value = recorded["analysis_fps"].flatMap(Int.init) { settings.analysisRate = value }
        if let value = recorded["analysis_detect_every"].flatMap(Int.init) { settings.analysisDetectEvery = value }
        return settings
    }

    /// The mel stage's params as the shards recorded them.
    static func melConfig(_ recorded: [String: Double]) -> LogMelConfig {
        var config = LogMelConfig()
        func int(_ name: String, _ path: WritableKeyPath<LogMelConfig, Int>) { if let value = recorded[name] { config[keyPath: path] = Int(value) } }
        func double(_ name: String, _ path: WritableKeyPath<LogMelConfig, Double>) { if let value = recorded[name] { config[keyPath: path] = value } }
        int("sample_rate", \.sampleRate)
        int("n_fft", \.fftSize)
        int("win_length", \.windowLength)
        int("hop_length", \.hopLength)
        int("n_mels", \.melBands)
        double("fmin", \.minFrequency)
        double("fmax", \.maxFrequency)
        double("top_db", \.topDB)
        return config
    }
}

/// Why a model or a clip cannot be used, naming the file.
public struct InferenceError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
