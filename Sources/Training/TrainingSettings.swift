import Foundation

/// Why training stopped or could not start, in words naming the file, rank or setting concerned.
public struct TrainingError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// How a training job starts its workers.
public enum Launcher: String, CaseIterable, Sendable {
    /// Child processes on this machine.
    case local
    /// MPI ranks on `nodes` machines, started by an MPI launcher.
    case mpi
}

/// How a training job starts its workers: child processes on this machine (`local`), or MPI ranks on `nodes` machines
/// started by an MPI launcher (`mpi`). Not part of what is trained: `workers` ranks give the same model either way, to
/// float summation order, so these settings stay out of the stage's key and out of checkpoints (a run may resume under
/// the other launcher).
public struct TrainingLaunch: Sendable, Equatable {
    public var launcher = Launcher.local
    /// Machines under `mpi`: `workers / nodes` workers on each.
    public var nodes = 1
    /// The MPI launcher and its own options (`mpirun --hostfile hosts`, `srun --partition cpu`): the job adds the process
    /// count, the placement per machine and the worker program.
    public var command = "mpirun"

    public init() {}

    public var problem: String? {
        if nodes < 1 { return "nodes must be at least 1" }
        if launcher == .local && nodes != 1 { return "nodes > 1 needs launcher: mpi" }
        if launcher == .mpi && command.split(separator: " ").isEmpty { return "mpi_command cannot be empty under launcher: mpi" }
        return nil
    }
}
