import ArgumentParser
import EmotionCLI
import EmotionStages
import Faces
import Foundation
import Media
import Pipeline

struct FacesCommand: ParsableCommand, StageOptions {
    static let configuration = CommandConfiguration(
        commandName: "faces",
        abstract: "Show what the faces stage does on one image or clip: chips, an overview with boxes and landmarks, faces.json.")
    static let kind = FacesStage.kind
    typealias Settings = FaceSettings
    private static let defaults = FaceSettings()

    @Argument(help: "An image (jpg, png) or a clip (anything FFmpeg reads).")
    var input: String

    @Option(help: "The folder to write face_N.png, overview_N.png and faces.json to.")
    var out: String

    @Option(help: help("frames")) var frames = defaults.frames
    @Option(help: help("max_side")) var maxSide = defaults.maxSide
    @Option(help: help("detector")) var detector = defaults.detector.rawValue
    @Option(help: help("cnn_weights")) var cnnWeights = defaults.cnnWeights
    @Option(help: help("cnn_min_face")) var cnnMinFace = defaults.cnnMinimumFace
    @Option(help: help("size")) var size = defaults.size
    @Option(help: help("padding")) var padding = defaults.padding
    @Option(help: help("predictor")) var predictor = defaults.predictor
    @Option(help: help("speaker")) var speaker = defaults.speaker.rawValue
    @Option(help: help("analysis_fps")) var analysisFPS = defaults.analysisRate
    @Option(help: help("analysis_detect_every")) var analysisDetectEvery = defaults.analysisDetectEvery

    var paramValues: [String: ParamValue] {
        ["frames": .int(frames), "max_side": .int(maxSide), "detector": .string(detector), "cnn_weights": .string(cnnWeights),
         "cnn_min_face": .int(cnnMinFace), "size": .int(size), "padding": .double(padding), "predictor": .string(predictor),
         "speaker": .string(speaker), "analysis_fps": .int(analysisFPS), "analysis_detect_every": .int(analysisDetectEvery)]
    }

    func validate() throws { _ = try settings() }

    func run() throws {
        let settings = try settings()
        let imageTypes: Set<String> = ["jpg", "jpeg", "png", "bmp", "gif"]
        let sampled: [(time: Double, image: RGBImage)], analysis: (() throws -> ClipFaces.AnalysisInput)?
        let isVideo = !imageTypes.contains((input as NSString).pathExtension.lowercased())
        // A `.clip` reference names recordings relative to the workspace it was written in: run from there.
        let source = try ClipSource(path: input, workspace: FileManager.default.currentDirectoryPath)
        if isVideo {
            (sampled, analysis) = try ClipFaces.read(source, settings: settings)
        } else {
            (sampled, analysis) = ([(0, try DlibImageFile.load(input))], nil)
        }
        let result = try ClipFaces.extract(frames: sampled, detectors: try FacesStage.detectors(settings),
                                           predictor: try FacesStage.predictor(settings.predictor), settings: settings, analysis: analysis)
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        for (index, chip) in result.chips.enumerated() { try PNGFile.write(chip, to: out + "/face_\(index).png") }
        for (index, frame) in result.record.frames.enumerated() where !frame.faces.isEmpty {
            var overview = sampled[index].image
            for face in frame.faces { Overlay.box(face, on: &overview, color: (255, 200, 0)) }
            if let chosen = frame.chosen { Overlay.box(chosen, on: &overview, color: (0, 255, 0)) }
            for point in frame.landmarks ?? [] { Overlay.dot(x: point[0], y: point[1], on: &overview, color: (255, 0, 0)) }
            try PNGFile.write(overview, to: out + "/overview_\(index).png")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try encoder.encode(result.record).write(to: URL(fileURLWithPath: out + "/faces.json"))
        let found = result.record.frames.filter { !$0.faces.isEmpty }.count
        print("\(input): \(result.record.status.rawValue); faces in \(found) of \(sampled.count) frame(s)"
              + (result.record.speaker.map { "; \($0.rule.rawValue) face: \($0.reason)" } ?? "") + "; wrote \(out)")
    }
}

/// Marks drawn on an overview picture: detection boxes and landmark dots.
enum Overlay {
    static func box(_ face: FaceBox, on image: inout RGBImage, color: (UInt8, UInt8, UInt8)) {
        for thickness in 0..<2 {
            for x in face.left...face.right {
                set(x, face.top + thickness, &image, color)
                set(x, face.bottom - thickness, &image, color)
            }
            for y in face.top...face.bottom {
                set(face.left + thickness, y, &image, color)
                set(face.right - thickness, y, &image, color)
            }
        }
    }

    static func dot(x: Int, y: Int, on image: inout RGBImage, color: (UInt8, UInt8, UInt8)) {
        for dy in -1...1 { for dx in -1...1 { set(x + dx, y + dy, &image, color) } }
    }

    private static func set(_ x: Int, _ y: Int, _ image: inout RGBImage, _ color: (UInt8, UInt8, UInt8)) {
        guard x >= 0, y >= 0, x < image.width, y < image.height else { return }
        let offset = (y * image.width + x) * 3
        image.pixels[offset] = color.0
        image.pixels[offset + 1] = color.1
        image.pixels[offset + 2] = color.2
    }
}
