import ArgumentParser
import Dataset
import EmotionModel
import EmotionStages
import Export
import Foundation
import ModelContract

/// `emotion export`: the export stage's code on a train stage's folder, outside a pipeline.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export a trained model: model.safetensors, model.onnx, model_int8.onnx, emotion_model.py and model_info.json.",
        discussion: "With --shards, the dev split calibrates the int8 model's face trunk (its activation ranges) and the float and int8 models are scored on the test split; the figures go into model_info.json.")

    @Option(help: "A train stage's folder (best.safetensors, last.safetensors, train.json).")
    var model: String

    @Option(help: "The folder to write the export to.")
    var out: String

    @Option(help: "The best dev epoch's weights, or the last.")
    var weights = ModelWeights.best

    @Option(help: "The shards stage's folder, to score the float and int8 models on the test split.")
    var shards: String?

    @Option(help: "The shard_index stage's folder; default: shard_index beside --shards.")
    var index: String?

    @Option(help: "Dev clips the int8 model's activation ranges are measured on (0: int8 weights only, float activations).")
    var calibrationClips = ExportSettings().calibrationClips

    @Option(help: "The activation ranges: each tensor's extremes (minmax), or the 99.99th percentile of each sign's magnitudes (percentile).")
    var calibration = ExportSettings().calibration

    func run() throws {
        let trained: TrainedModelFolder
        do { trained = try TrainedModelFolder(model, weights: weights) }
        catch { throw ValidationError("--model \(error)") }
        var test: ShardedSplit?, calibrationSplit: ModelExport.Calibration?
        if let shards {
            let indexFolder = index ?? ((shards as NSString).deletingLastPathComponent as NSString).appendingPathComponent("shard_index")
            let files = try TrainCommand.shardFiles(shards)
            test = try ShardedSplit(index: indexFolder + "/test/index.json") { files[$0] ?? $0 }
            if calibrationClips > 0 {
                calibrationSplit = ModelExport.Calibration(split: try ShardedSplit(index: indexFolder + "/dev/index.json") { files[$0] ?? $0 },
                                                           clips: calibrationClips, method: calibration)
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
