import Foundation
import ModelContract
import Pipeline
import Training

/// `train`: the model trained on the sharded cache by N worker processes exchanging gradients through shared memory
/// (see `TrainingJob`). Deps: `shard_index` (its `train/index.json` and `dev/index.json`) and `shards` (the files they
/// name). Outputs: `best.safetensors` and `last.safetensors` (PyTorch `state_dict` names), `metrics.jsonl`,
/// `train.json`, `train.log`. Checkpoints live in the unit's resume folder, so a killed run resumes where it stopped.
public enum TrainStage {
    public static let kind = StageKind.whole(
        "train", version: 5, summary: "the model trained data-parallel by worker processes over shared memory; checkpoints and resume",
        params: TrainingSettings.params + TrainingLaunch.params
    ) { context in
        var settings = try TrainingSettings(context.params, stage: context.stage)
        let launch = try TrainingLaunch(context.params, stage: context.stage)
        settings.initPath = try initFiles(settings.initFiles, context).joined(separator: ",")
        var job = TrainingJob(settings: settings, data: try shards(context), jobDirectory: context.resumeDirectory,
                              worker: (WorkerProgram.path, ["train-rank"]))
        job.launch = launch
        try job.run()
        for name in ["best.safetensors", "last.safetensors", "metrics.jsonl", "train.json", "train.log"] {
            try FileManager.default.copyItem(atPath: context.resumeDirectory + "/" + name, toPath: try context.outputPath(name))
        }
        let digests = context.resumeDirectory + "/digests"
        if FileManager.default.fileExists(atPath: digests) {
            try FileManager.default.copyItem(atPath: digests, toPath: try context.outputPath("digests"))
        }
    }.using(.product(of: ["workers", "threads"]))

    /// The train and dev indexes among the stage's inputs, and where every shard file they can name is.
    static func shards(_ context: WorkContext) throws -> RankAssignment.DataSource {
        let files = context.inputLocations
        let locations = files.filter { $0.key.hasSuffix(".safetensors") }
        guard let train = files["train/index.json"], let dev = files["dev/index.json"] else {
            throw PipelineError(.stageFailed, "stage '\(context.stage)': no train/index.json and dev/index.json among its deps (list a shard_index stage)")
        }
        guard !locations.isEmpty else { throw PipelineError(.stageFailed, "stage '\(context.stage)': no shard files among its deps (list a shards stage)") }
        return .shards(trainIndex: train, devIndex: dev, locations: locations)
    }

    /// Each init entry as a file: a file of a dependency (`STAGE/FILE`, or a single-file path listed in deps), else a path.
    static func initFiles(_ entries: [String], _ context: WorkContext) throws -> [String] {
        try entries.map { entry in
            if let file = context.dependencyFile(entry) { return file.location }
            if let input = context.inputs.first(where: { entry.hasPrefix($0.name + "/") }) {
                throw PipelineError(.stageFailed, "stage '\(context.stage)': init \(entry): '\(input.name)' has no \(entry.dropFirst(input.name.count + 1))")
            }
            return entry
        }
    }
}
