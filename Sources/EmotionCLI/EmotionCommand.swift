import ArgumentParser
import Foundation
import Pipeline
import Synchronization

/// The `emotion` command: runs and inspects pipelines. This front end links the runner alone (no media or
/// numeric library), so `status`, `dag`, `gc` and planning start in milliseconds; the stage kinds' code, and
/// the commands that compute (`synth`, `clean`, `faces`, `mel`, `forward`, `train`, `export`, `infer`, `watch`), live in the worker program.
public struct EmotionCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "emotion",
        abstract: "Recognise emotion from face and voice: build datasets, features and models with incremental pipelines.",
        discussion: "The commands that compute run in the worker program, \(WorkerProgram.name), beside this one: "
            + delegatedCommands.joined(separator: ", ") + " (see `emotion <command> --help`).",
        subcommands: pipelineCommands
    )

    /// The commands that plan, inspect and supervise: the whole front end, and part of every program that embeds it.
    public static let pipelineCommands: [ParsableCommand.Type] = [
        RunCommand.self, StatusCommand.self, ReportCommand.self, DagCommand.self, GCCommand.self, VerifyCommand.self, KindsCommand.self, WorkerSubcommand.self,
    ]

    /// The worker program's own commands, which the front end hands over to it whole: the command names of
    /// `EmotionWorkerCommand.computeCommands` (a test holds the two lists equal; the front end links none of their code).
    public static let delegatedCommands = ["synth", "clean", "faces", "mel", "forward", "train", "export", "infer", "watch"]

    /// Where the stage kinds come from.
    public enum KindSource: Sendable {
        /// Their code is in this program: units run in copies of it, or on its threads.
        case registry(StageRegistry)
        /// In the worker program at this path: the front end learns their declarations from its `kinds --json`,
        /// and runs units, `run --in-process` and the commands that compute there.
        case program(String)
    }

    /// How `run --mpi` joins an MPI job: given -j, where units run and the stage kinds, it runs `body` (the pipeline) on
    /// rank 0 with the other ranks' slots, and serves units on the others until rank 0 is done. Set by the worker
    /// program, which links MPI; the front end hands `run --mpi` over to it.
    public typealias MPIRunner = @Sendable (_ jobs: Int, _ isolation: UnitIsolation, _ registry: StageRegistry,
                                            _ body: (RemoteUnits?) throws -> Void) throws -> Void

    /// What the program's `main` sets before `start()`: the front end's defaults, the worker program's registry and MPI.
    private static let setting = Mutex<(kinds: KindSource, mpiRunner: MPIRunner?)>((.program(defaultWorkerProgram), nil))

    public static var kinds: KindSource {
        get { setting.withLock { $0.kinds } }
        set { setting.withLock { $0.kinds = newValue } }
    }

    public static var mpiRunner: MPIRunner? {
        get { setting.withLock { $0.mpiRunner } }
        set { setting.withLock { $0.mpiRunner = newValue } }
    }

    public init() {}

    /// Runs the command line: a command the worker program owns is handed over to it (exec, same arguments).
    public static func start() {
        refuseArgumentsNotUTF8()
        let arguments = Array(CommandLine.arguments.dropFirst())
        if let first = arguments.first, delegatedCommands.contains(first) { handOver(arguments) }
        keepFreedMemory()
        failOnLostOutput()
        mainNamingFileErrors()
    }

    /// Swift reads the command line as UTF-8, replacing what is not: a file name in another encoding would reach the
    /// command as a name no file has ("no such file"). It is refused instead, saying which argument and why (exit 64).
    public static func refuseArgumentsNotUTF8() {
        for index in 1..<Int(CommandLine.argc) {
            guard let raw = CommandLine.unsafeArgv[index], String(validatingCString: raw) == nil else { continue }
            let bytes = Array(UnsafeBufferPointer(start: UnsafeRawPointer(raw).assumingMemoryBound(to: UInt8.self), count: strlen(raw)))
            let message = "error: argument \(index) ('\(escapedFileName(bytes))') is not UTF-8 text; a file name in another encoding cannot be "
                + "opened by name: rename the file (convmv -f latin1 -t utf-8 --notest, for a name in Latin-1)\n"
            FileHandle.standardError.write(Data(message.utf8))
            Glibc.exit(EX_USAGE)
        }
    }

    /// A command whose standard output could not be written (a full disk, `>/dev/full`) did not do what it was asked:
    /// at exit, a failed flush of standard output ends the program with status 74 (EX_IOERR), saying so on standard error.
    public static func failOnLostOutput() {
        atexit {
            guard fflush(stdout) != 0 || ferror(stdout) != 0 else { return }
            let message = "error: standard output could not be written: \(String(cString: strerror(errno)))\n"
            _ = message.withCString { Glibc.write(2, $0, strlen($0)) }
            _exit(74)
        }
    }

    /// A status reads a few large files and scans every input and output on several threads, and its time goes as much
    /// to the kernel zeroing fresh pages as to anything else: one malloc arena, with freed and large blocks kept for
    /// reuse rather than returned and mapped anew, touches a quarter fewer pages (7 560 to 5 770 on make bench-dag's
    /// tree). The front end holds little at a time; the heavy work is in worker processes.
    static func keepFreedMemory() {
        let (arenaMax, mmapThreshold, trimThreshold): (Int32, Int32, Int32) = (-8, -3, -1)  // glibc's M_ARENA_MAX, M_MMAP_THRESHOLD, M_TRIM_THRESHOLD
        _ = glibcMallopt(arenaMax, 1)
        _ = glibcMallopt(mmapThreshold, 256 << 20)
        _ = glibcMallopt(trimThreshold, 256 << 20)
    }

    /// Replaces this process with the worker program given `arguments`; without a worker program, says so and exits.
    static func handOver(_ arguments: [String]) -> Never {
        guard case .program(let program) = kinds else { preconditionFailure("this program has its stage kinds' code") }
        let argv = ([program] + arguments).map { strdup($0) } + [nil]
        execv(program, argv)
        FileHandle.standardError.write(Data("error: cannot start the worker program \(program): \(String(cString: strerror(errno)))\n".utf8))
        Glibc.exit(EX_UNAVAILABLE)
    }

    static var defaultWorkerProgram: String { WorkerProgram.path }

    static var thisProgram: String { WorkerProgram.thisProgram }

    /// Where a front end keeps what it learned from worker programs: `$XDG_CACHE_HOME/emotion`, else `~/.cache/emotion`.
    static var cacheDirectory: String? {
        let environment = ProcessInfo.processInfo.environment
        if let base = environment["XDG_CACHE_HOME"], !base.isEmpty { return base + "/emotion" }
        if let home = environment["HOME"], !home.isEmpty { return home + "/.cache/emotion" }
        return nil
    }

    /// The stage kinds, with their code or (in the front end) their declarations.
    static func registry() throws -> StageRegistry {
        switch kinds {
        case .registry(let registry): return registry
        case .program(let program):
            return try StageRegistry.declared(by: program, listing: ["kinds", "--json"], cacheDirectory: cacheDirectory)
        }
    }

    /// The program units run in: this one, or the worker program.
    static var workerCommand: WorkerCommand {
        switch kinds {
        case .registry: return WorkerCommand(executable: thisProgram, arguments: ["worker"])
        case .program(let program): return WorkerCommand(executable: program, arguments: ["worker"])
        }
    }
}

/// Options every command that touches the workspace takes.
struct WorkspaceOptions: ParsableArguments {
    @Option(name: .long, help: "The workspace folder: inputs, cache, run records and outputs live here.")
    var workspace: String = "data"

    /// The workspace, made when missing (for a run).
    func open() throws -> Workspace {
        try Workspace(root: workspace)
    }

    /// The workspace, which must exist (for commands that only look at or tidy one).
    func openExisting() throws -> Workspace {
        try Workspace(root: workspace, create: false)
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

/// The pipeline file a command reads, and the variables set for this run (`--var dataset=CREMA-D`).
struct PipelineFileOptions: ParsableArguments {
    @Argument(help: "The pipeline file, e.g. pipelines/demo.yaml.")
    var pipeline: String

    @Option(name: .customLong("var"), help: "NAME=VALUE: set one of the pipeline's vars for this run (repeatable), e.g. --var dataset=CREMA-D.")
    var variables: [String] = []

    func validate() throws {
        for setting in variables where !setting.contains("=") || setting.hasPrefix("=") {
            throw ValidationError("--var takes NAME=VALUE, not '\(setting)'")
        }
    }

    func graph() throws -> PipelineGraph {
        var overrides: [String: String] = [:]
        for setting in variables {
            let parts = setting.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            overrides[String(parts[0])] = String(parts[1])
        }
        return try PipelineGraph(try PipelineSpec.load(file: pipeline, vars: overrides), registry: try EmotionCommand.registry())
    }
}

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run a pipeline, recomputing only the stages and items whose inputs, params or code changed.")

    @OptionGroup var file: PipelineFileOptions

    @Option(help: "Run only this stage (or a foreach declaration's stages) and the stages it depends on; repeatable.")
    var until: [String] = []

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

    @Flag(help: "Under mpirun or srun: rank 0 runs the pipeline, the other ranks run its units too (-j each), all in one workspace on a shared filesystem.")
    var mpi = false

    @OptionGroup var options: WorkspaceOptions

    func validate() throws {
        guard jobs >= 1 else { throw ValidationError("-j must be at least 1") }
    }

    func run() throws {
        // Started by mpirun or srun with more than one process, the run is spread even without --mpi: each rank running
        // the whole pipeline would only wait for the others' lock.
        let environment = ProcessInfo.processInfo.environment
        let mpi = self.mpi || ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE"].contains { (environment[$0].flatMap(Int.init) ?? 1) > 1 }
        if inProcess || mpi, case .program = EmotionCommand.kinds { EmotionCommand.handOver(Array(CommandLine.arguments.dropFirst())) }
        let isolation: UnitIsolation = inProcess ? .threads : .processes(EmotionCommand.workerCommand)
        guard mpi else { return try run(isolation: isolation, remote: nil) }
        guard let runner = EmotionCommand.mpiRunner, case .registry(let registry) = EmotionCommand.kinds else {
            throw ValidationError("--mpi needs the worker program, which links MPI")
        }
        try runner(jobs, isolation, registry) { remote in try run(isolation: isolation, remote: remote) }
    }

    private func run(isolation: UnitIsolation, remote: RemoteUnits?) throws {
        try reportingErrors {
            let graph = try file.graph()
            var runOptions = RunOptions(jobs: jobs, until: until, force: Set(force), wait: wait, isolation: isolation, remote: remote)
            runOptions.about = RunContext.about()
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
        for warning in status.warnings { print("  warning: \(warning)") }
    }
}

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show which stages are stale and why: which input, param or version changed.")

    @OptionGroup var file: PipelineFileOptions

    @OptionGroup var options: WorkspaceOptions

    func run() throws {
        try reportingErrors {
            let runner = try Runner(workspace: try options.openExisting(), graph: try file.graph(), progress: Progress(quiet: true))
            printStatus(try runner.status())
        }
    }
}

extension GraphFormat: ExpressibleByArgument {}

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "Write the last run's overview page, out/PIPELINE/index.html, again (every run writes it).")

    @OptionGroup var file: PipelineFileOptions

    @OptionGroup var options: WorkspaceOptions

    func run() throws {
        try reportingErrors {
            let graph = try file.graph()
            let workspace = try options.openExisting()
            guard let overview = RunOverview(workspace: workspace, graph: graph) else {
                throw PipelineError(.missingPath, "no run of \(graph.name) is logged in \(workspace.root): run it first")
            }
            print(try overview.write())
        }
    }
}

struct DagCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "dag", abstract: "Print the pipeline's stage graph.")

    @OptionGroup var file: PipelineFileOptions

    @Option(help: "text, dot (Graphviz) or mermaid.")
    var format: GraphFormat = .text

    func run() throws {
        try reportingErrors { print(try file.graph().render(format)) }
    }
}

struct GCCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gc", abstract: "Drop cache entries and files that no run record references.")

    @Flag(help: "Only count what would be dropped.")
    var dryRun = false

    @OptionGroup var options: WorkspaceOptions

    func run() throws {
        try reportingErrors {
            let result = try GarbageCollector.collect(workspace: try options.openExisting(), dryRun: dryRun)
            let verb = dryRun ? "would drop" : "dropped"
            print("\(verb) \(result.entriesRemoved) entries and \(result.objectsRemoved) files (\(result.bytesFreed) bytes); kept \(result.objectsKept) files")
        }
    }
}

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify", abstract: "Rehash every cached output; take out what no longer matches its digest, so the next run recomputes it.")

    @Option(name: .customShort("j", allowingJoined: true), help: "Files hashed at once (default: the number of cores).")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    @OptionGroup var options: WorkspaceOptions

    func run() throws {
        let result = try reportingErrors { try Verifier.verify(workspace: try options.openExisting(), threads: max(1, jobs)) }
        print("checked \(result.objectsChecked) files (\(result.bytesChecked) bytes): \(result.damaged.count) damaged, \(result.missing.count) missing")
        guard !result.damaged.isEmpty || !result.missing.isEmpty else { return }
        for path in result.damaged { print("  damaged, removed: \(path)") }
        for path in result.missing { print("  missing (out/ links to it): \(path)") }
        print("removed \(result.entriesRemoved) cache entries; the next run recomputes:")
        for unit in result.recomputed { print("  \(unit)") }
        throw ExitCode(1)
    }
}

struct KindsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "kinds", abstract: "List the stage kinds pipelines can use, with their params.")

    @Flag(help: "Print the declarations as JSON, as a front end reads them from its worker program.")
    var json = false

    func run() throws {
        let kinds = try reportingErrors { try EmotionCommand.registry() }.kinds.values.sorted(by: { $0.name < $1.name })
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(kinds), as: UTF8.self))
            return
        }
        for kind in kinds {
            print("\(kind.name) (v\(kind.version), \(kind.isMap ? "per item" : "whole")): \(kind.summary)")
            for param in kind.params {
                let fallback = param.defaultValue.map { " = \($0)" } ?? " (required)"
                print("    \(param.name): \(param.type)\(fallback) - \(param.help)\(param.execution ? " (how it runs: outside the key)" : "")")
            }
        }
    }
}

/// `emotion worker`: what `emotion run` starts once per job to run units in; not for people to call.
struct WorkerSubcommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker", abstract: "Serve units of work to `emotion run` (started by it, on file descriptors 3 and 4).", shouldDisplay: false)

    func run() throws {
        guard case .registry(let registry) = EmotionCommand.kinds else { EmotionCommand.handOver(["worker"]) }
        let status = WorkerLoop.serve(registry: registry)
        if status != 0 { throw ExitCode(status) }
    }
}

/// glibc's `mallopt`, which the Glibc module does not bring in (it is declared in malloc.h).
@_silgen_name("mallopt")
private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32

extension ParsableCommand {
    /// ArgumentParser's `main`, but a file error Foundation raised (a `--out` in a missing or read-only folder, a full
    /// disk) is said as its path and the system's reason, not as an NSCocoaErrorDomain dump.
    public static func mainNamingFileErrors() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            guard let message = fileErrorMessage(error) else { exit(withError: error) }
            FileHandle.standardError.write(Data("error: \(message)\n".utf8))
            Glibc.exit(EXIT_FAILURE)
        }
    }
}
