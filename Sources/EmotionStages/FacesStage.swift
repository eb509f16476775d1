import Faces
import Foundation
import Media
import Pipeline

/// `faces`: per clip, `frames` frames sampled uniformly, the speaker's face found and aligned as MODEL.md says:
/// `frames.npy` (uint8, frames x 224 x 224 x 3; all zero when no frame has a face) and `faces.json` (boxes,
/// landmarks, faces per frame, the chosen track, and `status`: ok, no_face, or why the clip cannot be read).
public enum FacesStage {
    public static let kind = StageKind.map(
        "faces", version: 1, summary: "aligned 224x224 face crops per clip (dlib HOG, 68 landmarks, face chips)",
        params: [
            ParamSpec("frames", .int, default: .int(8), help: "frames sampled uniformly over each clip"),
            ParamSpec("max_side", .int, default: .int(640), help: "detect on a copy whose longer side is at most this (0: full size)"),
            ParamSpec("size", .int, default: .int(224), help: "chip side in pixels"),
            ParamSpec("padding", .double, default: .double(0.25), help: "dlib's chip padding around the landmarks"),
            ParamSpec("predictor", .string, default: .string(LandmarkPredictor.debianModelPath), help: "dlib's 68-point landmark model"),
        ]
    ) { context in
        guard let file = context.files.first else { throw PipelineError(.stageFailed, "item '\(context.id)' has no file") }
        let count = context.params.int("frames"), size = context.params.int("size")
        prefetchPredictor(context.params.string("predictor"))
        guard count >= 1, size >= 16 else { throw PipelineError(.badParam, "stage '\(context.stage)': 'frames' must be at least 1 and 'size' at least 16") }
        let sampled: [(time: Double, image: RGBImage)]
        do {
            sampled = try MediaReader(path: file.location).frames(count: count)
        } catch let error as MediaError {
            try context.write(Data("{\"status\":\"\(error.reason)\"}\n".utf8), to: "faces.json")
            return
        }
        let result = try ClipFaces.extract(frames: sampled, detectors: try detectors(), predictor: try predictor(context.params.string("predictor")),
                                           maxSide: context.params.int("max_side"), size: size, padding: context.params.double("padding"))
        var pixels = [UInt8](repeating: 0, count: count * size * size * 3)
        for (index, chip) in result.chips.enumerated() {
            pixels.replaceSubrange(index * size * size * 3..<(index + 1) * size * size * 3, with: chip.pixels)
        }
        try context.write(NumpyArray.uint8(pixels, shape: [count, size, size, 3]), to: "frames.npy")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try context.write(try encoder.encode(result.record), to: "faces.json")
    }

    /// Detectors for this worker thread, kept for its life: one per core, so that a clip's frames are searched
    /// in parallel (with -j 1 the decoder's second core would otherwise sit idle during detection).
    static func detectors() throws -> [FaceDetector] {
        let key = "emotion.faces.detectors"
        if let made = Thread.current.threadDictionary[key] as? [FaceDetector] { return made }
        let made = try (0..<max(1, min(ProcessInfo.processInfo.activeProcessorCount, 4))).map { _ in try FaceDetector() }
        Thread.current.threadDictionary[key] = made
        return made
    }

    /// One landmark model per path for the whole run: loading takes about a second.
    private static let predictors = SharedInstances<String, LandmarkPredictor>()

    static func predictor(_ path: String) throws -> LandmarkPredictor {
        try predictors.value(for: path) { try LandmarkPredictor(path: $0) }
    }

    private static let prefetched = SharedInstances<String, Bool>()

    /// Starts loading the landmark model on another thread the first time a path is seen, so that the first
    /// clip's decoding and detection overlap the load instead of waiting for it.
    static func prefetchPredictor(_ path: String) {
        prefetched.value(for: path) { path in
            DispatchQueue.global().async { _ = try? predictor(path) }
            return true
        }
    }
}
