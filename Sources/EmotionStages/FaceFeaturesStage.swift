import Dataset
import Foundation
import Pipeline
import Tensor
import Training

/// The `face_features` stage's settings: which weights make the trunk, and whether flipped frames are cached too.
public struct FaceFeatureSettings: Sendable, Equatable {
    /// The state dictionary holding the trunk: `STAGE/FILE` of a stage in deps, or a path listed in deps (so that its
    /// content is in the stage's key, and a new file reruns the extraction).
    public var initFile = ""
    /// Put before the file's names to give the model's (`visual.backbone.` for torchvision's resnet18), as `train`'s.
    public var initPrefix = ""
    /// Also the features of each frame flipped left to right, for training's flip augmentation.
    public var flip = true
    /// Engine threads, fixed so that the features are the same bytes on any machine.
    public var threads = 1
    public var precision = PrecisionSetting.fp32

    public init() {}

    public var problem: String? {
        if initFile.isEmpty { return "init must name the state dictionary holding the face trunk" }
        if threads < 1 { return "threads must be at least 1" }
        return nil
    }
}

/// `face_features`: per clip, the face trunk (ResNet-18 up to its pooling) run once on each frame the `faces` stage
/// aligned, in evaluation mode on the weights `init` gives: `features.npy` (float32, Tv x 512), `features_flipped.npy`
/// (the same of the flipped frames, with `flip`), `feature_params.json` (the trunk's digest and these settings) and
/// `face_params.json` (the chips' settings, passed on). A map over `faces`; `shards` packs these in place of pixels, so a
/// model whose trunk is frozen trains on a few KB a clip, and a new init file reruns this while a new fusion does not.
public enum FaceFeaturesStage {
    public static let kind = StageKind.map(
        "face_features", version: 1, summary: "the face trunk's 512-d features of each aligned frame (and of it flipped), for training with the trunk frozen",
        params: FaceFeatureSettings.params
    ) { context in
        let settings = try FaceFeatureSettings(context.params, stage: context.stage)
        func file(_ name: String) -> InputFile? { context.files.first { $0.path == name || $0.path.hasSuffix("/" + name) } }
        let status = try file("faces.json").flatMap { try clipStatus($0.location) } ?? "the faces stage wrote nothing"
        guard let framesFile = file("frames.npy") else {
            try context.writeJSON(["status": status], to: "features.json")
            return
        }
        let frames = try NumpyArray.read(framesFile.location)
        guard frames.descriptor == "|u1", frames.shape.count == 4, frames.shape[3] == 3, frames.shape[1] == frames.shape[2], frames.shape[1] >= 32 else {
            throw PipelineError(.corrupt, "\(framesFile.path) of \(context.id): expected uint8 (Tv, H, W, 3) chips of at least 32 pixels, found \(frames.descriptor) \(frames.shape)")
        }
        let precision = try resolvedPrecision(settings.precision, stage: context.stage)
        let extractor = try FaceFeaturesStage.extractor(settings, context)
        let (count, size) = (frames.shape[0], frames.shape[1])
        let (features, flipped) = frames.data.withUnsafeBytes { raw in
            extractor.features(chips: raw.bindMemory(to: UInt8.self), frames: count, size: size, flip: settings.flip, threads: settings.threads,
                               precision: precision)
        }
        let width = ShardFormat.faceFeatureWidth
        try context.write(NumpyArray.float32(features, shape: [count, width]), to: "features.npy")
        if let flipped { try context.write(NumpyArray.float32(flipped, shape: [count, width]), to: "features_flipped.npy") }
        try context.writeJSON(["status": status], to: "features.json")
        try context.writeJSON(["trunk_sha256": extractor.digest, "init": settings.initFile, "init_prefix": settings.initPrefix, "flip": String(settings.flip),
                               "precision": precision.rawValue],
                              to: "feature_params.json")
        if let faceParams = file("face_params.json") {
            try context.write(try Data(contentsOf: URL(fileURLWithPath: faceParams.location)), to: "face_params.json")
        }
    }.using(.product(of: ["threads"]))

    /// The extractor of the init file, made once per thread and file content (a unit's thread may run many clips; the
    /// fused trunk keeps per-shape plans, which threads must not share).
    static func extractor(_ settings: FaceFeatureSettings, _ context: ItemContext) throws -> FaceFeatureExtractor {
        guard let file = context.dependencyFile(settings.initFile) else {
            throw PipelineError(.stageFailed, "stage '\(context.stage)': init \(settings.initFile) is not a file of its deps: list the stage (STAGE/FILE) or the path under deps, so that a new file reruns the extraction")
        }
        let prefix = "emotion.face_features.extractor|"
        let key = prefix + file.digest.hex + "|" + settings.initPrefix
        let cache = Thread.current.threadDictionary
        if let made = cache[key] as? FaceFeatureExtractor { return made }
        let made: FaceFeatureExtractor
        do { made = try FaceFeatureExtractor(stateDictionary: file.location, prefix: settings.initPrefix) }
        catch { throw PipelineError(.stageFailed, "stage '\(context.stage)': init \(settings.initFile) (init_prefix '\(settings.initPrefix)'): \(error)") }
        // One trunk per thread: another file's goes.
        for case let old as String in cache.allKeys where old.hasPrefix(prefix) { cache.removeObject(forKey: old) }
        cache[key] = made
        return made
    }

    /// The `status` a faces.json records (ok, no_face, or why the clip could not be read).
    static func clipStatus(_ path: String) throws -> String? {
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any]
        return object?["status"] as? String
    }
}
