import Foundation
import MPI

// One rank of an MPI job for MPITests: joins, sums [rank + 1, 10 (rank + 1)] over every rank, takes rank 0's bytes by
// broadcast, gathers every rank's name, splits the machine's ranks off, and prints what it saw as one JSON line.
do {
    let world = try MPIJob.start()
    var values: [Float] = [Float(world.rank + 1), Float(10 * (world.rank + 1))]
    try values.withUnsafeMutableBufferPointer { try world.allReduceSum($0) }
    var bytes: [UInt8] = world.rank == 0 ? Array("rank zero".utf8) : Array(repeating: 0, count: 9)
    try bytes.withUnsafeMutableBytes { try world.broadcast($0, root: 0) }
    let names = try world.allGather("rank\(world.rank)")
    let largest = try world.allReduceMax(Int64(world.rank * 7))
    let node = try world.node()
    try world.barrier()
    let line: [String: Any] = ["rank": world.rank, "size": world.size, "sum": values.map(Double.init), "broadcast": String(decoding: bytes, as: UTF8.self),
                               "names": names, "max": largest, "node_size": node.size]
    print(String(decoding: try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys]), as: UTF8.self))
    MPIJob.finish()
} catch {
    FileHandle.standardError.write(Data("mpi-probe: \(error)\n".utf8))
    exit(1)
}
