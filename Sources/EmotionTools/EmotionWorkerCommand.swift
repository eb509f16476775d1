import ArgumentParser
import EmotionCLI

/// The worker program's command line: the front end's commands, with the stage kinds' code in this process,
/// and the commands that compute. People call it through `emotion`, which hands these commands over.
public struct EmotionWorkerCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "emotion",
        abstract: "Recognise emotion from face and voice: the worker program, which holds the stage kinds' code and the commands that compute.",
        subcommands: EmotionCommand.pipelineCommands + computeCommands + [TrainRankCommand.self]
    )

    /// `EmotionCommand.delegatedCommands`, which the front end hands over: a test holds the two lists equal.
    public static let computeCommands: [ParsableCommand.Type] = [
        SynthCommand.self, CleanCommand.self, FacesCommand.self, MelCommand.self, ForwardCommand.self, TrainCommand.self, ExportCommand.self,
        InferCommand.self, WatchCommand.self,
    ]

    public init() {}
}
