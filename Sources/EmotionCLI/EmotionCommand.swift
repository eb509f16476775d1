import ArgumentParser
import EmotionStages
import Foundation
import Pipeline

/// The `emotion` command: runs and inspects pipelines, and (as stages land) offers each stage on its own.
public struct EmotionCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "emotion",
        abstract: "Recognise emotion from face and voice: build datasets, features and models with incremental pipelines.",
        subcommands: [RunCommand.self, StatusCommand.self, DagCommand.self, GCCommand.self, KindsCommand.self, SynthCommand.self, CleanCommand.self, FacesCommand.self, MelCommand.self, ForwardCommand.self, WorkerSubcommand.self]
    )

    /// The stage kinds pipelines may use. The `emotion` executable registers the project's stages;
    /// a test harness may register its own.
    nonisolated(unsafe) public static var registry = ProjectStages.registry

    public init() {}
}

/// Options every command that touches the workspace takes.
struct WorkspaceOptions: ParsableArguments {
    @Option(name: .long, help: "The workspace folder: inputs, cache, run records and outputs live here.")
    var workspace: String = "data"

    func open() throws -> Workspace {
        try Workspace(root: workspace)
    }
}

/// Runs a body, turning runner errors into a clear message on standard error and an exit code
/// (1 for bad input or a failed stage, 75 when the workspace is busy).
func reportingErrors<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as PipelineError {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        throw ExitCode(error.code == .locked ? 75 : 1)
    }
}

func loadGraph(_ file: String) throws -> PipelineGraph {
    try PipelineGraph(try PipelineSpec.load(file: file), registry: EmotionCommand.registry)
}

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run a pipeline, recomputing only the stages and items whose inputs, params or code changed.")

    @Argument(help: "The pipeline file, e.g. pipelines/demo.yaml.")
    var pipeline: String

    @Option(help: "Run only this stage and the stages it depends on.")
    var until: String?

    @Option(help: "Recompute this stage whatever the cache says (repeatable).")
    var force: [String] = []

    @Flag(help: "Show what would run, and why, without running it.")
    var dryRun = false

    @Option(name: .customShort("j", allowingJoined: true), help: "Units of work to run at once (default: the number of cores).")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    @Flag(help: "If another run holds the workspace, wait for it instead of exiting.")
    var wait = false

    @Flag(help: "Run units on this process's threads, not in worker processes (for a debugger; a crash then ends the run, and limits do not apply).")
    var inProcess = false

    @OptionGroup var options: WorkspaceOptions

    func validate() throws {
        guard jobs >= 1 else { throw ValidationError("-j must be at least 1") }
    }

    func run() throws {
        try reportingErrors {
            let graph = try loadGraph(pipeline)
            let isolation: UnitIsolation = inProcess ? .threads : .processes(WorkerSubcommand.command)
            let runOptions = RunOptions(jobs: jobs, until: until, force: Set(force), wait: wait, isolation: isolation)
            let runner = try Runner(workspace: try options.open(), graph: graph, options: runOptions)
            if dryRun {
                print("dry run: nothing is executed")
                printStatus(try runner.status(), verb: "would run")
                return
            }
            let started = Date()
            let summary = try runner.run()
            let ran = summary.stages.filter { $0.state == .ran }.count
            let fresh = summary.stages.filter { $0.state == .upToDate }.count
            print("\(graph.name): \(summary.stages.count) stages, \(ran) ran, \(fresh) up to date; \(summary.executed) units executed; "
                  + "\(summary.filesHashed) files (\(summary.bytesHashed) bytes) hashed; \(String(format: "%.2f", Date().timeIntervalSince(started))) s")
            if summary.failed {
                for stage in summary.stages where !stage.failures.isEmpty {
                    let shown = stage.failures.prefix(20).map { "\n  " + $0 }.joined()
                    let more = stage.failures.count > 20 ? "\n  ... and \(stage.failures.count - 20) more" : ""
                    FileHandle.standardError.write(Data("error: stage '\(stage.name)' \(stage.state.rawValue): \(stage.failures.count) problem(s):\(shown)\(more)\n".utf8))
                }
                throw ExitCode(1)
            }
        }
    }
}

func printStatus(_ statuses: [StageStatus], verb: String = "stale") {
    for status in statuses {
        let count = status.items.map { " (\($0) items)" } ?? ""
        if status.upToDate {
            print("\(status.name): up to date\(count)")
        } else {
            print("\(status.name): \(verb)\(count)")
            for reason in status.reasons { print("  - \(reason)") }
        }
    }
}

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show which stages are stale and why: which input, param or version changed.")

    @Argument(help: "The pipeline file.")
    var pipeline: String

    @OptionGroup var options: WorkspaceOptions

    func run() throws {
        try reportingErrors {
            let runner = try Runner(workspace: try options.open(), graph: try loadGraph(pipeline), progress: Progress(quiet: true))
            printStatus(try runner.status())
        }
    }
}

extension GraphFormat: ExpressibleByArgument {}

struct DagCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "dag", abstract: "Print the pipeline's stage graph.")

    @Argument(help: "The pipeline file.")
    var pipeline: String

    @Option(help: "text, dot (Graphviz) or mermaid.")
    var format: GraphFormat = .text

    func run() throws {
        try reportingErrors { print(try loadGraph(pipeline).render(format)) }
    }
}

struct GCCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gc", abstract: "Drop cache entries and files that no run record references.")

    @Flag(help: "Only count what would be dropped.")
    var dryRun = false

    @OptionGroup var options: WorkspaceOptions

    func run() throws {
        try reportingErrors {
            let result = try GarbageCollector.collect(workspace: try options.open(), dryRun: dryRun)
            let verb = dryRun ? "would drop" : "dropped"
            print("\(verb) \(result.entriesRemoved) entries and \(result.objectsRemoved) files (\(result.bytesFreed) bytes); kept \(result.objectsKept) files")
        }
    }
}

struct KindsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "kinds", abstract: "List the stage kinds pipelines can use, with their params.")

    func run() throws {
        for kind in EmotionCommand.registry.kinds.values.sorted(by: { $0.name < $1.name }) {
            print("\(kind.name) (v\(kind.version), \(kind.isMap ? "per item" : "whole")): \(kind.summary)")
            for param in kind.params {
                let fallback = param.defaultValue.map { " = \($0)" } ?? " (required)"
                print("    \(param.name): \(param.type)\(fallback) - \(param.help)")
            }
        }
    }
}

/// `emotion worker`: what `emotion run` starts once per job to run units in; not for people to call.
struct WorkerSubcommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker", abstract: "Serve units of work to `emotion run` (started by it, on file descriptors 3 and 4).", shouldDisplay: false)

    /// This same program, as a worker: the test harness's program serves its own kinds the same way.
    static var command: WorkerCommand {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return WorkerCommand(executable: executable, arguments: ["worker"])
    }

    func run() throws {
        let status = WorkerLoop.serve(registry: EmotionCommand.registry)
        if status != 0 { throw ExitCode(status) }
    }
}
