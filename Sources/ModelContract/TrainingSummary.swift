import Dataset
import Foundation
import Labels
import Metrics

/// A training's dev figures after one epoch, in evaluation mode.
public struct DevFigures: Codable, Equatable, Sendable {
    public var epoch: Int
    public var accuracy: Double
    public var weightedF1: Double
    public var macroF1: Double

    /// The figures of `metrics` after epoch `epoch` (counted from 1).
    public init(epoch: Int, _ metrics: ClassificationMetrics) {
        self.epoch = epoch
        (accuracy, weightedF1, macroF1) = (metrics.accuracy, metrics.weightedF1, metrics.macroF1)
    }

    enum CodingKeys: String, CodingKey {
        case epoch, accuracy, weightedF1 = "weighted_f1", macroF1 = "macro_f1"
    }
}

/// `train.json`: what a training run followed, what it measured, and what its model reads and predicts (the shards'
/// features and label set), so that evaluation, export and inference rebuild the model without asking the pipeline.
public struct TrainingSummary: Codable, Sendable {
    public static let fileName = "train.json"

    public var bestEpoch: Int
    public var best: DevFigures?
    public var epochs: [DevFigures]
    public var steps: Int
    public var stoppedEarly: Bool
    public var wallSeconds: Double
    public var samplesPerSecond: Double
    public var workers: Int
    public var threadsPerWorker: Int
    public var devices: [String]
    public var trainClips: Int
    public var devClips: Int
    public var parameters: Int
    public var settings: TrainingSettings
    /// The classes the model predicts, in output order.
    public var classes: LabelSet
    /// The shard index's features; nil for data no pipeline made (the benchmark's).
    public var features: ShardIndex.Features?

    public init(bestEpoch: Int, best: DevFigures?, epochs: [DevFigures], steps: Int, stoppedEarly: Bool, wallSeconds: Double,
                samplesPerSecond: Double, workers: Int, threadsPerWorker: Int, devices: [String], trainClips: Int, devClips: Int,
                parameters: Int, settings: TrainingSettings, classes: LabelSet, features: ShardIndex.Features?) {
        self.bestEpoch = bestEpoch
        self.best = best
        self.epochs = epochs
        self.steps = steps
        self.stoppedEarly = stoppedEarly
        self.wallSeconds = wallSeconds
        self.samplesPerSecond = samplesPerSecond
        self.workers = workers
        self.threadsPerWorker = threadsPerWorker
        self.devices = devices
        self.trainClips = trainClips
        self.devClips = devClips
        self.parameters = parameters
        self.settings = settings
        self.classes = classes
        self.features = features
    }

    enum CodingKeys: String, CodingKey {
        case bestEpoch = "best_epoch", best, epochs, steps, stoppedEarly = "stopped_early", wallSeconds = "wall_seconds"
        case samplesPerSecond = "samples_per_s", workers, threadsPerWorker = "threads_per_worker", devices, trainClips = "train_clips"
        case devClips = "dev_clips", parameters, settings, classes, features
    }

    /// The summary in `path`, or an error naming the file and the field that does not fit.
    public static func read(_ path: String) throws -> TrainingSummary { try ContractFile.read(path) }

    /// Written whole to a temporary name and renamed into place.
    public func write(to path: String) throws { try ContractFile.write(self, to: path) }
}
