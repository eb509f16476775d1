import ArgumentParser
import Pipeline

/// What a command that runs one stage kind's code alone shares with that kind: its options are the kind's
/// params (`max_side` is `--max-side`), with the help the kind declares and the defaults of the stage's
/// settings struct, and they are turned into settings by the stage's own function. So `emotion kinds`, the
/// command's `--help` and a pipeline file cannot disagree (a test holds every such command to its kind).
protocol StageOptions {
    associatedtype Settings: StageSettings
    static var kind: StageKind { get }
    /// The options' values, by param name.
    var paramValues: [String: ParamValue] { get }
}

extension StageOptions {
    /// The kind's help for one of its params.
    static func help(_ param: String) -> ArgumentHelp {
        guard let spec = kind.param(param) else { preconditionFailure("stage kind \(kind.name) has no param \(param)") }
        return ArgumentHelp(spec.help)
    }

    /// The options as the kind's params, checked as a pipeline file's would be; a bad value is a usage error.
    func stageParams() throws -> Params {
        try asUsageError { try Self.kind.params(paramValues, for: Self.kind.name) }
    }

    /// The stage's settings from the options, made by the stage's own function.
    func settings() throws -> Settings {
        try asUsageError { try Settings(try stageParams(), stage: Self.kind.name) }
    }
}

/// Runs a stage's settings function for a command: its complaints about values become usage errors, which
/// ArgumentParser prints with the command's usage and exit code 64.
func asUsageError<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as PipelineError where error.code == .badParam || error.code == .unknownParam {
        throw ValidationError(error.message)
    }
}
