import ArgumentParser
import EmotionCLI
import EmotionModel
import Foundation
import Labels
import Meld
import NN
import Safetensors
import Tensor

struct ForwardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forward",
        abstract: "Run EmotionModel on the frames and mel tensors of a safetensors file and write its logits.",
        discussion: """
            WEIGHTS is a state dictionary as PyTorch writes it (safetensors.torch.save_file(model.state_dict(), W)),
            with num_batches_tracked as I64. INPUTS holds `frames` (B, Tv, 3, H, W) and/or `mel` (B, 1, 64, Ta) as
            float32, as the fusion needs. OUT receives `logits` (B, classes).
            """)

    @Option(help: "How the face and voice encodings are combined.")
    var fusion: Fusion = .crossAttention

    @Option(help: "The state dictionary (.safetensors).")
    var weights: String

    @Option(help: "The inputs (.safetensors with frames and/or mel).")
    var inputs: String

    @Option(help: "Where to write the logits (.safetensors).")
    var out: String

    @Flag(help: "Run in training mode (BatchNorm batch statistics, dropout) instead of evaluation mode.")
    var train = false

    @Option(help: "Dropout probability in training mode, in [0, 1).")
    var dropout: Float = 0

    @Option(help: "Seed of the dropout masks.")
    var seed: UInt64 = 0

    @Option(help: "The classes the weights predict, in output order, comma-separated.")
    var classes = CommaSeparated(LabelSet.meld.names)

    func validate() throws {
        if let problem = LabelSet.problem(classes.values) { throw ValidationError("--classes: \(problem)") }
        guard (0..<1).contains(dropout) else { throw ValidationError("--dropout must be at least 0 and below 1, not \(dropout)") }
    }

    func run() throws {
        do {
            let labels = try LabelSet(classes.values)
            let model = EmotionModel(fusion: fusion, classes: labels.count, dropout: dropout, seed: seed)
            try model.loadStateDictionary(try SafetensorsFile(path: weights))
            let file = try SafetensorsFile(path: inputs)
            func input(_ name: String, needed: Bool) throws -> Tensor? {
                guard needed else { return nil }
                guard file.entries[name] != nil else {
                    throw ModelInputError(description: "\(inputs): no tensor '\(name)', which fusion \(fusion.rawValue) needs")
                }
                return Tensor(try file.floats(name), shape: try file.entry(name).shape)
            }
            let frames = try input("frames", needed: fusion.usesVisual), mel = try input("mel", needed: fusion.usesAudio)
            model.train(train)
            let started = Date()
            let output = try withoutGrad { try model.forward(frames: frames, mel: mel) }
            let elapsed = Date().timeIntervalSince(started)
            var writer = SafetensorsWriter()
            writer.add("logits", shape: output.logits.shape, floats: output.logits.scalars)
            writer.metadata = ["fusion": fusion.rawValue, "mode": train ? "train" : "eval", "weights": weights,
                               "classes": labels.joined]
            try writer.write(to: out)
            print(String(format: "%@: logits %@ in %.1f ms (%@ mode)", out, "\(output.logits.shape)", elapsed * 1000, train ? "train" : "eval"))
        } catch where error is SafetensorsError || error is StateDictionaryError || error is ModelInputError {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

