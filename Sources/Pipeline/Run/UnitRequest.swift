import Foundation

/// How long and how much memory one unit of a stage may take before it is stopped and recorded as failed.
/// Written as a stage's `limits:` (`{seconds: 600, memory_mb: 4000}`); outside the key, since a limit never
/// changes what a unit that finishes produces. A limit applies when units run in child processes.
public struct UnitLimits: Sendable, Hashable, Codable {
    /// Wall-clock seconds; nil for none.
    public var seconds: Double?
    /// Address space the unit may add to its process, in MiB; nil for none.
    public var memoryMB: Int?

    public init(seconds: Double? = nil, memoryMB: Int? = nil) {
        self.seconds = seconds
        self.memoryMB = memoryMB
    }

    enum CodingKeys: String, CodingKey {
        case seconds
        case memoryMB = "memory_mb"
    }
}

/// Where a run's units execute.
public enum UnitIsolation: Sendable {
    /// On the runner's threads, in this process: for programs that embed the runner.
    case threads
    /// In long-lived child processes of a worker command, one per job: a unit that crashes its process (a
    /// signal, an abort, a limit) costs only itself, and the runner replaces the process.
    case processes(WorkerCommand)
}

/// Units run on other machines (the ranks of an MPI job): `slots` at once, each slot one unit at a time. A unit goes as
/// the JSON line a worker process reads, and its answer is the line a worker writes (`UnitServer` on the other side);
/// its outputs land in the unit's folder in the workspace, which every machine sees (a shared filesystem), and the
/// runner records them as it records its own workers'.
public protocol RemoteUnits: AnyObject, Sendable {
    var slots: Int { get }
    /// Runs the unit in `slot` and returns the reply line; throws naming the machine when the unit could not be run.
    func run(request: Data, slot: Int) throws -> Data
}

/// The program the runner starts as a worker: it must call `WorkerLoop.serve` with the same stage kinds.
public struct WorkerCommand: Sendable {
    public var executable: String
    public var arguments: [String]

    public init(executable: String, arguments: [String]) {
        self.executable = executable
        self.arguments = arguments
    }
}

/// One unit of work as a worker receives it: everything its context holds, and its limits.
struct UnitRequest: Codable {
    struct Item: Codable {
        var id: String
        var files: [InputFile]
        var members: [ItemMember]?
    }

    var stage: String
    var kind: String
    var params: [String: ParamValue]
    var inputs: [StageInput]
    var item: Item?
    var outputDirectory: String
    var workspace: String
    var resumeDirectory: String
    var limits: UnitLimits
}

/// A worker's answer: nil when the unit's outputs are in its folder, otherwise why not.
struct UnitReply: Codable {
    var failure: String?
}

