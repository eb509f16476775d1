import Faces
import Foundation
import Media
import Pipeline

/// `faces`: per clip (a clip file, or a `.clip` reference to part of a recording), `frames` frames sampled uniformly,
/// the speaker's face found and aligned as MODEL.md says:
/// `frames.npy` (uint8, frames x 224 x 224 x 3; all zero when no frame has a face) and `faces.json` (boxes,
/// landmarks, faces per frame, the chosen track and, with `speaker: active`, how the speaker's face was chosen, and
/// `status`: ok, no_face, or why the clip cannot be read), and
/// `face_params.json`, the settings that made the chips (carried through the shards into an export's model_info.json).
public enum FacesStage {
    public static let kind = StageKind.map(
        "faces", version: 8, summary: "aligned 224x224 face crops per clip (dlib HOG and MTCNN, 68 landmarks, face chips; the speaking face of several)", params: FaceSettings.params
    ) { context in
        let settings = try FaceSettings(context.params, stage: context.stage)
        prefetchPredictor(settings.predictor)
        let chipBytes = settings.size * settings.size * 3
        var pixels = [UInt8](repeating: 0, count: settings.frames * chipBytes)
        func write(_ record: some Encodable) throws {
            try context.write(NumpyArray.uint8(pixels, shape: [settings.frames, settings.size, settings.size, 3]), to: "frames.npy")
            try context.writeJSON(record, to: "faces.json")
            try context.write(Data(context.params.canonicalJSON.utf8), to: "face_params.json")
        }
        let sampled: [(time: Double, image: RGBImage)], analysis: () throws -> ClipFaces.AnalysisInput
        let source = try context.clipSource()
        do {
            (sampled, analysis) = try ClipFaces.read(source, settings: settings)
        } catch MediaError.noVideoStream(let path) {
            // A recording of sound alone (a speech corpus's WAV): its face is missing, as for a clip where none is found,
            // so the voice's models train on it and the face's masked path sees it.
            try write(["status": "no_video_stream", "detail": "\((path as NSString).lastPathComponent) has no picture: its face is missing"])
            return
        } catch let error as MediaError {
            try context.writeJSON(UnreadableClip(error), to: "faces.json")
            return
        }
        let result = try ClipFaces.extract(frames: sampled, detectors: try detectors(settings), predictor: try predictor(settings.predictor), settings: settings,
                                           analysis: analysis)
        for (index, chip) in result.chips.enumerated() {
            pixels.replaceSubrange(index * chipBytes..<(index + 1) * chipBytes, with: chip.pixels)
        }
        try write(result.record)
    }

    /// Detectors for this worker thread, kept for its life: one per core, so that a clip's frames are searched
    /// in parallel (with -j 1 the decoder's second core would otherwise sit idle during detection).
    public static func detectors(_ settings: FaceSettings = FaceSettings()) throws -> [FaceDetector] {
        let key = "emotion.faces.detectors.\(settings.detector.rawValue).\(settings.cnnWeights).\(settings.cnnMinimumFace)"
        if let made = Thread.current.threadDictionary[key] as? [FaceDetector] { return made }
        let made = try (0..<max(1, min(ProcessInfo.processInfo.activeProcessorCount, 4))).map { _ in try FaceDetector(settings: settings) }
        Thread.current.threadDictionary[key] = made
        return made
    }

    /// One landmark model per path for the whole run: loading takes about a second.
    private static let predictors = SharedInstances<String, LandmarkPredictor>()

    public static func predictor(_ path: String) throws -> LandmarkPredictor {
        try predictors.value(for: path) { try LandmarkPredictor(path: $0) }
    }

    private static let prefetched = SharedInstances<String, Bool>()

    /// Starts loading the landmark model on another thread the first time a path is seen, so that the first
    /// clip's decoding and detection overlap the load instead of waiting for it.
    static func prefetchPredictor(_ path: String) {
        _ = prefetched.value(for: path) { path in
            DispatchQueue.global().async { _ = try? predictor(path) }
            return true
        }
    }
}
