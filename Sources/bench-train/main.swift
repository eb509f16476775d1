import ChildProcesses
import EmotionModel
import Foundation
import ModelContract
import GradientExchange
import Labels
import Meld
import MPI
import NN
import Training

// make bench-train's measuring program (scripts/bench_train.py runs it):
//   bench-train exchange --ranks N [--count C] --iterations K   memcpy and the all-reduce of C floats (the model's gradient) over N processes
//   bench-train steps --workers N --steps S --worker PROGRAM [--frozen]  training steps of the bench-model model, N workers, 1 thread
//                                                                       each; --frozen: the face trunk frozen, on cached features
//   bench-train extract --clips C [--frames 8] [--threads 1]          the face_features stage's extraction (flipped frames too)
//   bench-train mpi-allreduce [--count C] --iterations K             (under mpirun) MPI_Allreduce of C floats across the ranks
//   bench-train steps ... --nodes M --mpi-command CMD                  the workers as MPI ranks on M machines, started by CMD
// Each prints what it measured and, last, one JSON line.

let arguments = CommandLine.arguments
func option(_ name: String) -> String? { arguments.firstIndex(of: name).flatMap { $0 + 1 < arguments.count ? arguments[$0 + 1] : nil } }
func number(_ name: String, _ fallback: Int) -> Int { option(name).flatMap(Int.init) ?? fallback }
func now() -> Double { Date().timeIntervalSinceReferenceDate }
func emit(_ figures: [String: Any]) {
    print(String(decoding: try! JSONSerialization.data(withJSONObject: figures, options: [.sortedKeys]), as: UTF8.self))
}
func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("bench-train: \(message)\n".utf8))
    exit(1)
}

switch arguments.dropFirst().first {
case "exchange":
    // Default: the floats of the bench-model model's gradient (cross_attention).
    let ranks = number("--ranks", 3), iterations = number("--iterations", 10)
    let count = number("--count", EmotionModel(fusion: .crossAttention, classes: LabelSet.meld.count).parameters.reduce(0) { $0 + $1.count })
    // memcpy of the same buffer: the bound a shared-memory exchange is measured against.
    let source = UnsafeMutablePointer<Float>.allocate(capacity: count), target = UnsafeMutablePointer<Float>.allocate(capacity: count)
    source.initialize(repeating: 1, count: count)
    target.initialize(repeating: 0, count: count)
    var copy = Double.infinity
    for _ in 0..<iterations {
        let start = now()
        target.update(from: source, count: count)
        copy = min(copy, now() - start)
    }
    let memcpy = Double(count * 4) / copy / 1e9
    let name = "/emotion-bench-\(getpid())"
    let exchange: GradientExchange
    do { exchange = try GradientExchange(creating: name, ranks: ranks, count: count) } catch { fail("\(error)") }
    let out = NSTemporaryDirectory() + "bench-train-\(getpid())"
    let children = (0..<ranks).map { rank in
        try! ChildProcess(executable: CommandLine.arguments[0], arguments: ["exchange-rank", name, String(rank), String(iterations), out + "-\(rank)"])
    }
    for child in children where !child.wait().succeeded { fail("an exchange rank failed") }
    exchange.unlink()
    // Each rank's best time of one all-reduce; the slowest rank's best is the operation's time.
    let times = (0..<ranks).map { Double((try? String(contentsOfFile: out + "-\($0)", encoding: .utf8)) ?? "") ?? .infinity }
    for rank in 0..<ranks { try? FileManager.default.removeItem(atPath: out + "-\(rank)") }
    let seconds = times.max()!
    // NCCL's bus bandwidth: the algorithm's bytes per second times 2 (N - 1) / N, comparable across N.
    let bus = Double(count * 4) / seconds / 1e9 * 2 * Double(ranks - 1) / Double(ranks)
    print(String(format: "memcpy of %.0f MB: %.2f GB/s; all-reduce of it over %d processes: %.1f ms, bus bandwidth %.2f GB/s (%.0f%% of memcpy)",
                 Double(count * 4) / 1e6, memcpy, ranks, seconds * 1000, bus, bus / memcpy * 100))
    emit(["memcpy_gb_per_s": memcpy, "allreduce_ms": seconds * 1000, "allreduce_bus_gb_per_s": bus, "allreduce_ranks": ranks, "gradient_floats": count])

case "exchange-rank":
    let (name, rank, iterations, out) = (arguments[2], Int(arguments[3])!, Int(arguments[4])!, arguments[5])
    do {
        // As a training worker does: the gradient written in the rank's home buffer, then summed in place and averaged.
        let exchange = try GradientExchange(attaching: name, rank: rank)
        let gradient = exchange.homeBuffer
        var best = Double.infinity
        for _ in 0..<iterations + 1 {
            for i in 0..<gradient.count { gradient[i] = Float(rank) }
            let start = now()
            try exchange.reduceHome(scale: 1 / Float(exchange.ranks), timeout: 60)
            best = min(best, now() - start)
        }
        try String(best).write(toFile: out, atomically: true, encoding: .utf8)
    } catch {
        fail("rank \(rank): \(error)")
    }

case "steps":
    let workers = number("--workers", 1), steps = number("--steps", 4)
    guard let worker = option("--worker") else { fail("steps needs --worker PROGRAM (emotion-worker)") }
    var settings = TrainingSettings()
    settings.workers = workers
    settings.threads = number("--threads", 1)
    settings.batch = number("--batch", 8)
    settings.melFrames = 300
    settings.epochs = 1
    settings.maxSteps = steps
    settings.checkpointEvery = 0
    settings.warmup = 1
    let frames = number("--frames", 4), size = number("--size", 224)
    let frozen = arguments.contains("--frozen")
    if frozen { settings.freeze = "visual.backbone." }
    let job = NSTemporaryDirectory() + "bench-train-job-\(getpid())"
    defer { try? FileManager.default.removeItem(atPath: job) }
    var training = TrainingJob(settings: settings, data: .synthetic(clips: workers * settings.batch * steps, classes: .meld, frames: frames, size: size, faceFeatures: frozen),
                               jobDirectory: job, worker: (worker, ["train-rank"]))
    training.fault = nil
    if let command = option("--mpi-command") {
        training.launch.launcher = .mpi
        training.launch.nodes = number("--nodes", 1)
        training.launch.command = command
    }
    do { try training.run() } catch { fail("\(error)") }
    let lines = (try? String(contentsOfFile: job + "/metrics.jsonl", encoding: .utf8))?.split(separator: "\n") ?? []
    let records = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }.filter { $0["step_ms"] != nil }
    // The first step warms the engine and the buffers up.
    let measured = records.count > 1 ? Array(records.dropFirst()) : records
    guard !measured.isEmpty else { fail("no steps recorded") }
    let stepMs = measured.map { $0["step_ms"] as! Double }.reduce(0, +) / Double(measured.count)
    let exchangeMs = measured.map { $0["allreduce_ms"] as! Double }.reduce(0, +) / Double(measured.count)
    let samples = Double(workers * settings.batch) / (stepMs / 1000)
    print(String(format: "%d worker(s) x batch %d, %d thread(s) each, Tv %d, %dx%d, Ta 300%@: step %.1f ms (exchange and its waits %.1f ms, %.1f%%), %.2f samples/s",
                 workers, settings.batch, settings.threads, frames, size, size, frozen ? ", trunk frozen on cached features" : "", stepMs, exchangeMs,
                 exchangeMs / stepMs * 100, samples))
    emit(["workers": workers, "step_ms": stepMs, "exchange_ms": exchangeMs, "exchange_pct": exchangeMs / stepMs * 100, "samples_per_s": samples,
          "steps_measured": measured.count, "frozen": frozen])

case "extract":
    // What the face_features stage does per clip: Tv aligned 224x224 chips and their mirror images through the fused trunk.
    let clips = number("--clips", 6), frames = number("--frames", 8), size = number("--size", 224), threads = number("--threads", 1)
    let trunk = ResNet18Trunk()
    trunk.initializeParameters(seed: 1)
    let extractor = FaceFeatureExtractor(trunk: trunk)
    let chips = (0..<frames * size * size * 3).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }
    var times: [Double] = []
    for _ in 0..<clips + 1 {
        let start = now()
        _ = chips.withUnsafeBufferPointer { extractor.features(chips: $0, frames: frames, size: size, flip: true, threads: threads) }
        times.append(now() - start)
    }
    // The first clip plans the trunk for its shape.
    let perClip = times.dropFirst().reduce(0, +) / Double(clips)
    print(String(format: "face features of %d clips of Tv %d, %dx%d, and their flips, %d engine thread(s): %.0f ms a clip, %.2f clips/s (planning: %.0f ms)",
                 clips, frames, size, size, threads, perClip * 1000, 1 / perClip, (times[0] - perClip) * 1000))
    emit(["extract_ms_per_clip": perClip * 1000, "extract_clips_per_s": 1 / perClip, "threads": threads, "frames": frames])

case "mpi-allreduce":
    // What a node's leader does each step: the node's gradient summed with the other nodes' through MPI, in place.
    let iterations = number("--iterations", 10)
    let count = number("--count", EmotionModel(fusion: .crossAttention, classes: LabelSet.meld.count).parameters.reduce(0) { $0 + $1.count })
    do {
        let world = try MPIJob.start()
        let gradient = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
        var best = Double.infinity
        for _ in 0..<iterations + 1 {
            for i in 0..<count { gradient[i] = Float(world.rank) }
            try world.barrier()
            let start = now()
            try world.allReduceSum(gradient)
            best = min(best, now() - start)
        }
        // The slowest rank's best time is the operation's.
        let seconds = Double(try world.allReduceMax(Int64(best * 1e9))) / 1e9
        let hosts = try world.allGather(MPIJob.processorName)
        let expected = Float(world.size * (world.size - 1) / 2)
        guard gradient[0] == expected, gradient[count - 1] == expected else { fail("the all-reduce summed \(gradient[0]), not \(expected)") }
        if world.rank == 0 {
            let bus = Double(count * 4) / seconds / 1e9 * 2 * Double(world.size - 1) / Double(world.size)
            print(String(format: "MPI all-reduce of %.0f MB over %d ranks on %@: %.1f ms, bus bandwidth %.2f GB/s", Double(count * 4) / 1e6, world.size,
                         hosts.joined(separator: ", "), seconds * 1000, bus))
            emit(["mpi_allreduce_ms": seconds * 1000, "mpi_allreduce_bus_gb_per_s": bus, "ranks": world.size, "gradient_floats": count])
        }
        MPIJob.finish()
    } catch {
        fail("\(error)")
    }

default:
    fail("usage: bench-train exchange|steps [options]")
}
