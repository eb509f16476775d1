import ArgumentParser
import Dataset
import EmotionModel
import EmotionStages
import Export
import Foundation
import ModelContract
import Pipeline

/// `emotion export`: the export stage's code on a train stage's folder, outside a pipeline.
struct ExportCommand: ParsableCommand, StageOptions {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export a trained model: model.safetensors, model.onnx, model_int8.onnx, emotion_model.py and model_info.json.",
        discussion: "With --shards, the dev split calibrates the int8 model's face trunk (its activation ranges) and the float and int8 models are scored on the test split; the figures go into model_info.json.")

    static let kind = ExportStage.kind
    typealias Settings = ExportSettings
    private static let defaults = ExportSettings()

    @Option(help: "A train stage's folder (best.safetensors, last.safetensors, train.json).")
    var model: String

    @Option(help: "The folder to write the export to.")
    var out: String

    @Option(help: help("weights")) var weights = defaults.weights
    @Option(help: help("calibration_clips")) var calibrationClips = defaults.calibrationClips
    @Option(help: help("calibration")) var calibration = defaults.calibration

    @Option(help: "The shards stage's folder: its dev split calibrates the int8 model, its test split scores the float and int8 models.")
    var shards: String?

    @Option(help: "The shard_index stage's folder; default: shard_index beside --shards.")
    var index: String?

    var paramValues: [String: ParamValue] {
        ["weights": .string(weights.rawValue), "calibration_clips": .int(calibrationClips), "calibration": .string(calibration.rawValue)]
    }

    func validate() throws { _ = try settings() }

    func run() throws {
        let settings = try settings()
        let trained: TrainedModelFolder
        do { trained = try TrainedModelFolder(model, weights: settings.weights) }
        catch { throw ValidationError("--model \(error)") }
        var test: ShardedSplit?, calibrationSplit: ModelExport.Calibration?
        if let shards {
            let indexFolder = index ?? ((shards as NSString).deletingLastPathComponent as NSString).appendingPathComponent("shard_index")
            let files = try TrainCommand.shardFiles(shards)
            test = try ShardedSplit(index: indexFolder + "/test/index.json") { files[$0] ?? $0 }
            if settings.calibrationClips > 0 {
                calibrationSplit = ModelExport.Calibration(split: try ShardedSplit(index: indexFolder + "/dev/index.json") { files[$0] ?? $0 },
                                                           clips: settings.calibrationClips, method: settings.calibration)
            }
        }
        do {
            let info = try ModelExport.export(trained, test: test, calibration: calibrationSplit, to: out)
            let figures = info.test.map { String(format: "; test accuracy %.3f, weighted F1 %.3f", $0.accuracy, $0.weightedF1) } ?? ""
            let int8 = info.testInt8.map { String(format: " (int8: %.3f, %.3f)", $0.accuracy, $0.weightedF1) } ?? ""
            print("wrote \(out): model.safetensors, model.onnx, model_int8.onnx, emotion_model.py, model_info.json (\(info.fusion.rawValue)\(figures)\(int8))")
        } catch let error as ExportError {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
