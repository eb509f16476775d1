import Dataset
import EmotionModel
import Export
import Foundation
import Labels
import Meld
import ModelContract
import NN
import OneDNN
import OpenBLAS
import Tensor

// make bench-model: training step, encoders alone and one-clip inference of EmotionModel at the issue's shapes
// (batch 8 clips, Tv 4 frames of 224x224, Ta 300 mel frames, dropout 0.3), and the convolutions' GFLOP/s
// against the matrix product on the same shapes. `--part model|visual|audio|convs` runs one part, so that
// each gets its own process and its own peak RSS; without it, all run in one process. `--part loader --index
// INDEX --root SHARDS` (make bench-loader) times the Dataset loader on real shards, one thread, and the training
// step on the batches it makes. `--part infer --export DIR --size S` (make bench-infer) writes a hash-initialised
// cross_attention model's model.onnx and model_int8.onnx into DIR and times the engine's one-clip inference on the same
// shapes. `--part model-folder --out DIR` (make bench-watch) writes such a model as a training output (best.safetensors,
// train.json with MODEL.md's input settings) for `emotion infer` and `emotion watch` to time. JSON on the last line.

setvbuf(stdout, nil, _IOLBF, 0)
let arguments = CommandLine.arguments
func option(_ name: String, _ fallback: Int) -> Int {
    guard let i = arguments.firstIndex(of: name), i + 1 < arguments.count, let v = Int(arguments[i + 1]) else { return fallback }
    return v
}
let batch = option("--batch", 8), frames = option("--frames", 4), melFrames = option("--mel-frames", 300)
let repeats = option("--repeats", 3)
let part = arguments.firstIndex(of: "--part").flatMap { $0 + 1 < arguments.count ? arguments[$0 + 1] : nil } ?? "all"
func runs(_ name: String) -> Bool { part == "all" || part == name }
var figures: [String: Any] = [:]

func now() -> Double { Date().timeIntervalSinceReferenceDate }

func peakRSSMegabytes() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024
}

/// Median seconds of `repeats` runs after one warm-up run.
func time(_ body: () throws -> Void) rethrows -> Double {
    try body()
    var samples: [Double] = []
    for _ in 0..<repeats {
        let start = now()
        try body()
        samples.append(now() - start)
    }
    return samples.sorted()[samples.count / 2]
}

let generator = RandomGenerator(seed: 7)
/// The reference system's classes: MELD's.
let classes = LabelSet.meld
func random(_ shape: [Int]) -> Tensor {
    Tensor((0..<shape.reduce(1, *)).map { _ in 2 * generator.uniform() - 1 }, shape: shape)
}

/// One optimiser step of `model` on a fixed batch in `precision`: forward, cross-entropy, backward, Adam.
func trainStep(_ fusion: Fusion, precision: Precision = .fp32) throws -> (seconds: Double, model: EmotionModel) {
    let model = EmotionModel(fusion: fusion, classes: classes.count, dropout: 0.3, seed: 1)
    model.hashInitialize()
    model.train()
    let flat = FlatParameters(model)
    let adam = Adam(flat, groups: Adam.modelGroups(), weightDecay: 1e-4)
    let x = fusion.usesVisual ? random([batch, frames, 3, 224, 224]) : nil
    let mel = fusion.usesAudio ? random([batch, 1, 64, melFrames]) : nil
    let labels = (0..<batch).map { $0 % classes.count }
    let seconds = try time {
        flat.zeroGrad()
        let output = try withPrecision(precision) { try model.forward(frames: x, mel: mel) }
        let loss = crossEntropy(output.logits, targets: labels, labelSmoothing: 0.1)
        loss.backward()
        adam.step()
    }
    return (seconds, model)
}

/// The int8 trunk's activation ranges from two random clips, as export measures them on dev clips.
func calibrate(_ model: EmotionModel, size: Int) -> TrunkCalibration {
    model.eval()
    let observer = ActivationObserver(method: .minmax)
    for _ in 0..<2 { withoutGrad { model.observeTrunk(frames: random([1, frames, 3, size, size]), observer) } }
    return observer.calibration(source: "two random clips", clips: 2)
}

func text(_ name: String) -> String? { arguments.firstIndex(of: name).flatMap { $0 + 1 < arguments.count ? arguments[$0 + 1] : nil } }
if part == "infer" {
    // One clip, evaluation mode, as `emotion infer` would run a trained model; the ONNX files are the same weights.
    guard let i = arguments.firstIndex(of: "--export"), i + 1 < arguments.count else { fatalError("--part infer needs --export DIR") }
    let folder = arguments[i + 1], size = option("--size", 224)
    let model = EmotionModel(fusion: .crossAttention, classes: classes.count, dropout: 0)
    model.hashInitialize()
    model.eval()
    model.prepareForInference()
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let shapes = ExportShapes(frames: frames, size: size, melFrames: melFrames)
    let calibration = calibrate(model, size: size)
    let state = StateDictionary(model)
    for (name, quantization) in [("model.onnx", ONNXQuantization.none), ("model_int8.onnx", .calibrated(FoldedTrunk(model.visual!.backbone), calibration))] {
        try ONNXExport.model(state, fusion: .crossAttention, classes: classes, shapes: shapes, quantization: quantization, version: "bench")
            .write(to: URL(fileURLWithPath: folder + "/" + name))
    }
    // Calibration put the model in evaluation mode again, which ends the fused trunk: timed fused, as infer serves it.
    model.prepareForInference()
    let clipFrames = random([1, frames, 3, size, size]), clipMel = random([1, 1, 64, melFrames])
    try Data(clipFrames.scalars.withUnsafeBytes { Data($0) }).write(to: URL(fileURLWithPath: folder + "/frames.f32"))
    try Data(clipMel.scalars.withUnsafeBytes { Data($0) }).write(to: URL(fileURLWithPath: folder + "/mel.f32"))
    let seconds = try time { _ = try withoutGrad { try model.forward(frames: clipFrames, mel: clipMel) } }
    var timings = ["engine_ms": seconds * 1000]
    if Precision.bf16.unsupported == nil {
        timings["engine_bf16_ms"] = 1000 * (try time { _ = try withoutGrad { try withPrecision(.bf16) { try model.forward(frames: clipFrames, mel: clipMel) } } })
    }
    model.quantize(trunk: calibration)
    timings["engine_int8_ms"] = 1000 * (try time { _ = try withoutGrad { try model.forward(frames: clipFrames, mel: clipMel) } })
    print(String(format: "engine, one clip (cross_attention, Tv %d x %dx%d, Ta %d): %.1f ms, bf16 %@, int8 %.1f ms", frames, size, size, melFrames, seconds * 1000,
                 timings["engine_bf16_ms"].map { String(format: "%.1f ms", $0) } ?? "not on this CPU", timings["engine_int8_ms"]!))
    print(String(decoding: try JSONSerialization.data(withJSONObject: timings, options: [.sortedKeys]), as: UTF8.self))
    exit(0)
}

if part == "model-folder" {
    guard let folder = text("--out") else { fatalError("--part model-folder needs --out DIR") }
    let size = option("--size", 224)
    let model = EmotionModel(fusion: .crossAttention, classes: classes.count, dropout: 0)
    model.hashInitialize()
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    try model.saveStateDictionary(to: folder + "/best.safetensors")
    try calibrate(model, size: size).encoded().write(to: URL(fileURLWithPath: folder + "/" + TrunkCalibration.fileName))
    // What a train stage records of its inputs: the mel and faces stages' default params.
    let features = ShardIndex.Features(frames: frames, size: size, melBands: 64,
                                       mel: ["sample_rate": 16_000, "n_fft": 512, "win_length": 400, "hop_length": 160, "n_mels": 64, "fmin": 0,
                                             "fmax": 8_000, "top_db": 80],
                                       faces: ["frames": String(frames), "size": String(size), "max_side": "640", "padding": "0.25",
                                               "predictor": "/usr/share/dlib/shape_predictor_68_face_landmarks.dat"])
    var settings = TrainingSettings()
    settings.melFrames = melFrames
    try TrainingSummary(bestEpoch: 0, best: nil, epochs: [], steps: 0, stoppedEarly: false, wallSeconds: 0, samplesPerSecond: 0, workers: 1,
                        threadsPerWorker: 1, devices: [], trainClips: 0, devClips: 0, parameters: model.parameters.reduce(0) { $0 + $1.count },
                        settings: settings, classes: classes, features: features).write(to: folder + "/" + TrainingSummary.fileName)
    print("{\"model\": \"\(folder)\"}")
    exit(0)
}

if part == "loader" {
    guard let index = text("--index"), let root = text("--root") else { fatalError("--part loader needs --index INDEX and --root SHARDS") }
    var settings = BatchSettings()
    settings.melFrames = melFrames
    settings.timeMask = 20
    settings.frequencyMask = 8
    let split = try ShardedSplit(index: index, root: root)
    let assembler = try BatchAssembler(split: split, settings: settings)
    let order = EpochOrder.positions(count: split.count, seed: 1, epoch: 0, shuffle: true)
    let steps = max(1, order.count / batch)
    var batches: [Batch] = []
    let started = now()
    for step in 0..<steps { batches.append(try assembler.batch(Array(order[step * batch..<(step + 1) * batch]), epoch: 0)) }
    let loaderSeconds = now() - started
    print(String(format: "loader, one thread, with augmentation: %d batches of %d in %.3f s, %.1f samples/s", steps, batch, loaderSeconds,
                 Double(steps * batch) / loaderSeconds))
    let features = split.index.features
    let model = EmotionModel(fusion: .crossAttention, classes: classes.count, dropout: 0.3, seed: 1)
    model.hashInitialize()
    model.train()
    let flat = FlatParameters(model)
    let adam = Adam(flat, groups: Adam.modelGroups(), weightDecay: 1e-4)
    func train(_ next: Batch) throws {
        flat.zeroGrad()
        let output = try model.forward(frames: Tensor(next.frames, shape: [next.count, features.frames, 3, features.size, features.size]),
                                       mel: Tensor(next.mel, shape: [next.count, 1, features.melBands, melFrames]))
        crossEntropy(output.logits, targets: next.labels.map { Int($0) }, labelSmoothing: 0.1).backward()
        adam.step()
    }
    var stepSeconds: [Double] = []
    for (number, next) in batches.prefix(3).enumerated() {
        let start = now()
        try train(next)
        if number > 0 || batches.count == 1 { stepSeconds.append(now() - start) }  // the first step warms the engine up
    }
    let step = stepSeconds.min()!
    print(String(format: "training step on those batches (cross_attention, Tv %d, %dx%d): %.0f ms, %.2f samples/s", features.frames, features.size,
                 features.size, step * 1000, Double(batch) / step))
    // The same steps fed by the prefetcher, which builds the next batch on its thread meanwhile: the step's time
    // beside it, and how long each step waited for its batch.
    let prefetched = min(steps, 3)
    let prefetcher = Prefetcher(batches: prefetched) { try assembler.batch(Array(order[$0 * batch..<($0 + 1) * batch]), epoch: 1) }
    var overlapped: [Double] = [], waits: [Double] = []
    for number in 0..<prefetched {
        let asked = now()
        let next = try prefetcher.batch(number)
        waits.append(now() - asked)
        let start = now()
        try train(next)
        if number > 0 || prefetched == 1 { overlapped.append(now() - start) }
    }
    let withPrefetch = overlapped.min()!
    print(String(format: "the same step with the prefetcher building the next batch beside it: %.0f ms (%+.1f%%); data wait %.1f ms after the first batch",
                 withPrefetch * 1000, (withPrefetch / step - 1) * 100, (waits.dropFirst().max() ?? 0) * 1000))
    let figures: [String: Any] = ["loader_samples_per_s": Double(steps * batch) / loaderSeconds, "train_samples_per_s": Double(batch) / step,
                                  "loader_batches": steps, "train_step_ms": step * 1000, "train_step_with_prefetch_ms": withPrefetch * 1000,
                                  "data_wait_ms": (waits.dropFirst().max() ?? 0) * 1000]
    print(String(decoding: try JSONSerialization.data(withJSONObject: figures, options: [.sortedKeys]), as: UTF8.self))
    exit(0)
}

print("EmotionModel on this machine: batch \(batch) clips, Tv \(frames) x 224x224, Ta \(melFrames), dropout 0.3, release build")
if runs("model") {
    let (stepSeconds, model) = try trainStep(.crossAttention)
    print(String(format: "train step (cross_attention): %.0f ms/step, %.2f samples/s", stepSeconds * 1000, Double(batch) / stepSeconds))
    model.eval()
    let clipFrames = random([1, frames, 3, 224, 224]), clipMel = random([1, 1, 64, melFrames])
    let inferSeconds = try time { _ = try withoutGrad { try model.forward(frames: clipFrames, mel: clipMel) } }
    print(String(format: "inference, one clip (eval mode): %.1f ms", inferSeconds * 1000))
    // Like the PyTorch anchor's figure: the process's peak after the training steps and the inference.
    let rss = peakRSSMegabytes()
    print(String(format: "peak RSS after the training steps and the inference: %.0f MB", rss))
    figures.merge(["train_step_ms": (stepSeconds * 1000).rounded(), "samples_per_s": Double(batch) / stepSeconds,
                   "infer_one_clip_ms": inferSeconds * 1000, "peak_rss_mb": rss.rounded()]) { $1 }
    if let why = Precision.bf16.unsupported {
        print("bf16: not measured, \(why)")
    } else {
        let bf16Seconds = try trainStep(.crossAttention, precision: .bf16).seconds
        print(String(format: "train step in bf16 (cross_attention): %.0f ms/step, %.2f of fp32's", bf16Seconds * 1000, bf16Seconds / stepSeconds))
        let bf16Infer = try time { _ = try withoutGrad { try withPrecision(.bf16) { try model.forward(frames: clipFrames, mel: clipMel) } } }
        print(String(format: "inference in bf16, one clip (eval mode): %.1f ms", bf16Infer * 1000))
        figures.merge(["bf16_train_step_ms": (bf16Seconds * 1000).rounded(), "bf16_train_step_ratio": bf16Seconds / stepSeconds,
                       "bf16_infer_one_clip_ms": bf16Infer * 1000]) { $1 }
    }
}
for (name, fusion) in [("visual", Fusion.visual), ("audio", Fusion.audio)] where runs(name) {
    let seconds = try trainStep(fusion).seconds
    let rss = peakRSSMegabytes()
    print(String(format: "%@ encoder alone (fusion %@), train step: %.0f ms, %.2f samples/s%@", name, name, seconds * 1000,
                 Double(batch) / seconds, part == name ? String(format: ", peak RSS %.0f MB", rss) : ""))
    figures["\(name)_step_ms"] = (seconds * 1000).rounded()
    figures["\(name)_samples_per_s"] = Double(batch) / seconds
    if part == name { figures["\(name)_peak_rss_mb"] = rss.rounded() }
}
if !runs("convs") {
    print(String(decoding: try JSONSerialization.data(withJSONObject: figures, options: [.sortedKeys]), as: UTF8.self))
    exit(0)
}

// Convolutions of the training step (ResNet-18 at batch x Tv images, the audio CNN) against sgemm on the
// shapes im2col would give them: forward (oc x N*OH*OW x ic*k*k), backward data and backward weights.
var geometries: [ConvolutionGeometry] = []
let images = batch * frames
func add(_ inC: Int, _ outC: Int, _ size: Int, kernel: Int, stride: Int, padding: Int, batch n: Int = images, width: Int? = nil, bias: Bool = false) {
    geometries.append(ConvolutionGeometry(batch: n, inChannels: inC, outChannels: outC, height: size, width: width ?? size,
                                          kernelHeight: kernel, kernelWidth: kernel, stride: stride, padding: padding, hasBias: bias))
}
add(3, 64, 224, kernel: 7, stride: 2, padding: 3)
for (inC, outC, size) in [(64, 64, 56), (64, 128, 56), (128, 256, 28), (256, 512, 14)] {
    let stride = inC == outC ? 1 : 2, out = size / stride
    add(inC, outC, size, kernel: 3, stride: stride, padding: 1)
    if stride == 2 { add(inC, outC, size, kernel: 1, stride: 2, padding: 0) }
    add(outC, outC, out, kernel: 3, stride: 1, padding: 1)
}
add(1, 32, 64, kernel: 3, stride: 1, padding: 1, batch: batch, width: melFrames, bias: true)
add(32, 64, 32, kernel: 3, stride: 1, padding: 1, batch: batch, width: melFrames / 2, bias: true)
add(64, 128, 16, kernel: 3, stride: 1, padding: 1, batch: batch, width: melFrames / 4, bias: true)

var convFlops = 0.0, convSeconds = 0.0, gemmSeconds = 0.0, blasSeconds = 0.0
print("convolution (N, C->O, HxW, k, s)        conv GFLOP/s   oneDNN sgemm   OpenBLAS sgemm (fwd + bwd data + bwd weights)")
for g in geometries {
    let x = random(g.inputDims), w = random(g.weightDims), y = Tensor(uninitialized: g.outputDims)
    let dx = Tensor(uninitialized: g.inputDims), dw = Tensor(uninitialized: g.weightDims)
    let b = g.hasBias ? random([g.outChannels]) : nil, db = g.hasBias ? Tensor(uninitialized: [g.outChannels]) : nil
    let plan = Convolution.plan(g)
    let c = time {
        plan.forward(input: x.pointer, weight: w.pointer, bias: b?.pointer, output: y.pointer)
        plan.backwardData(gradOutput: y.pointer, weight: w.pointer, gradInput: dx.pointer)
        plan.backwardWeights(input: x.pointer, gradOutput: y.pointer, gradWeight: dw.pointer, gradBias: db?.pointer)
    }
    let n = g.batch * g.outHeight * g.outWidth, k = g.inChannels * g.kernelHeight * g.kernelWidth, m = g.outChannels
    let a = random([max(m * k, k * n, m * n)]), bb = random([max(k * n, m * n, m * k)]), cc = Tensor(uninitialized: [max(m * n, k * n, m * k)])
    func products(_ sgemm: (Bool, Bool, Int, Int, Int, UnsafePointer<Float>, Int, UnsafePointer<Float>, Int, UnsafeMutablePointer<Float>, Int) -> Void) -> Double {
        time {
            sgemm(false, false, m, n, k, a.pointer, k, bb.pointer, n, cc.pointer, n)   // forward
            sgemm(true, false, k, n, m, a.pointer, k, bb.pointer, n, cc.pointer, n)    // backward data
            sgemm(false, true, m, k, n, bb.pointer, n, a.pointer, n, cc.pointer, k)    // backward weights
        }
    }
    let d = products { DNNL.sgemm(transA: $0, transB: $1, m: $2, n: $3, k: $4, a: $5, lda: $6, b: $7, ldb: $8, beta: 0, c: $9, ldc: $10) }
    let o = products { BLAS.sgemm(transA: $0, transB: $1, m: $2, n: $3, k: $4, a: $5, lda: $6, b: $7, ldb: $8, beta: 0, c: $9, ldc: $10) }
    let flops = 3 * g.flops
    convFlops += flops; convSeconds += c; gemmSeconds += d; blasSeconds += o
    let label = "\(g.batch), \(g.inChannels)->\(g.outChannels), \(g.height)x\(g.width), \(g.kernelHeight), \(g.stride)"
    print(label.padding(toLength: 40, withPad: " ", startingAt: 0)
          + String(format: "%8.1f      %8.1f        %8.1f", flops / c / 1e9, flops / d / 1e9, flops / o / 1e9))
}
let convGflops = convFlops / convSeconds / 1e9, gemmGflops = convFlops / gemmSeconds / 1e9, blasGflops = convFlops / blasSeconds / 1e9
print(String(format: "all convolutions: %.1f GFLOP/s; oneDNN sgemm on the same shapes %.1f GFLOP/s (%.0f%%), OpenBLAS %.1f GFLOP/s; %.0f ms for each shape once",
             convGflops, gemmGflops, 100 * convGflops / gemmGflops, blasGflops, convSeconds * 1000))

figures.merge(["conv_gflops": convGflops, "gemm_gflops": gemmGflops, "openblas_gemm_gflops": blasGflops,
               "conv_ms_all_shapes": convSeconds * 1000]) { $1 }
let json = try JSONSerialization.data(withJSONObject: figures, options: [.sortedKeys])
print(String(decoding: json, as: UTF8.self))
