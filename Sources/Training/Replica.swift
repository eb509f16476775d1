import Dataset
import EmotionModel
import Foundation
import ModelContract
import NN
import Safetensors
import Tensor

/// One worker's copy of everything training changes: the model, its flat parameter and gradient buffers, Adam's
/// moments, and the state that is not trained (BatchNorm's running statistics and counters). Every worker holds the
/// same parameters and state at every step boundary, and its share of the moments (gathered for a checkpoint), so any
/// one of them can be checkpointed and resumed into all.
final class Replica {
    let model: EmotionModel
    let flat: FlatParameters
    let adam: Adam
    /// Float state that is not a parameter (running statistics), in `state_dict` order.
    let buffers: [Tensor]
    let counters: [Counter]
    let bufferCount: Int
    /// Prefixes of the parameters `freeze` keeps fixed, and how many floats they hold.
    let frozen: [String]
    let frozenCount: Int
    /// The part of the flat gradient buffer that trainable parameters occupy: the rest stays zero, so the exchange and
    /// the norm skip it (a frozen trunk, registered first, is most of the buffer).
    let gradientRange: Range<Int>
    /// What the forward and backward passes compute in: the job resolved it, and the worker checked the CPU has it.
    let precision: Precision

    /// `gradientBuffer`: where the gradients live (a worker's home buffer in the exchange's segment); its own buffer if nil.
    init(settings: TrainingSettings, classes: Int, gradientBuffer: (pointer: UnsafeMutablePointer<Float>, owner: AnyObject)? = nil) {
        precision = settings.precision == .bf16 ? .bf16 : .fp32
        model = EmotionModel(fusion: settings.fusion, classes: classes, dropout: Float(settings.dropout))
        model.initializeParameters(seed: UInt64(settings.seed))
        flat = FlatParameters(model, gradientBuffer: gradientBuffer)
        frozen = settings.freezePrefixes
        var trainable: [Range<Int>] = [], frozenCount = 0
        for (index, name) in flat.names.enumerated() {
            let tensor = flat.tensors[index]
            if frozen.contains(where: { name.hasPrefix($0) }) {
                tensor.requiresGrad = false
                frozenCount += tensor.count
            } else {
                trainable.append(flat.offsets[index]..<flat.offsets[index] + tensor.count)
            }
        }
        self.frozenCount = frozenCount
        gradientRange = (trainable.first?.lowerBound ?? 0)..<(trainable.last?.upperBound ?? 0)
        adam = Adam(flat, groups: Adam.modelGroups(visual: settings.learningRateVisual, audio: settings.learningRateAudio,
                                                   other: settings.learningRateOther), weightDecay: settings.weightDecay, frozen: frozen)
        let parameters = Set(flat.tensors.map(ObjectIdentifier.init))
        var buffers: [Tensor] = [], counters: [Counter] = []
        for (_, entry) in model.namedState() {
            switch entry {
            case .tensor(let t): if !parameters.contains(ObjectIdentifier(t)) { buffers.append(t) }
            case .counter(let c): counters.append(c)
            }
        }
        self.buffers = buffers
        self.counters = counters
        bufferCount = buffers.reduce(0) { $0 + $1.count }
    }

    /// Training or evaluation mode, with frozen modules always in evaluation mode (BatchNorm on its loaded statistics). A
    /// wholly frozen face trunk then runs fused on its weights, which no longer change.
    func setTraining(_ on: Bool) {
        model.train(on)
        guard !frozen.isEmpty else { return }
        for (name, module) in model.namedModules() where !name.isEmpty && frozen.contains(where: { (name + ".").hasPrefix($0) }) {
            module.eval()
        }
        if let trunk = model.visual?.backbone, !trunk.parameters.contains(where: \.requiresGrad) { trunk.prepareForInference() }
    }

    /// Whether the whole face trunk is frozen: training on cached face features needs it.
    var trunkFrozen: Bool { model.visual.map { !$0.backbone.parameters.contains(where: \.requiresGrad) } ?? false }

    /// The logits for a batch in MODEL.md's layout, in the model's current mode.
    func forward(_ batch: Batch, shape: (frames: Int, size: Int, bands: Int), melFrames: Int) throws -> Tensor {
        try withPrecision(precision) {
            try model.logits(count: batch.count, frames: batch.frames, faceFeatures: batch.faceFeatures, tv: shape.frames, size: shape.size, mel: batch.mel,
                             bands: shape.bands, melFrames: melFrames)
        }
    }

    /// One worker's part of a step: the gradient of its batch's loss in the flat gradient buffer (zeroed first), with the
    /// dropout masks of (seed, rank, step), so a resumed run draws what the uninterrupted one drew. Returns the loss.
    func computeGradients(_ batch: Batch, shape: (frames: Int, size: Int, bands: Int), settings: TrainingSettings, classWeights: [Float]?,
                          rank: Int, step: Int) throws -> Float {
        model.generator.reseed(UInt64(settings.seed) &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(rank + 1) &* 0xBF58_476D_1CE4_E5B9
                               ^ UInt64(step + 1) &* 0x94D0_49BB_1331_11EB)
        flat.zeroGrad()
        let logits = try forward(batch, shape: shape, melFrames: settings.melFrames)
        let loss = crossEntropy(logits, targets: batch.labels.map { Int($0) }, classWeights: classWeights, labelSmoothing: Float(settings.labelSmoothing))
        loss.backward()
        return loss.item
    }

    /// The non-parameter float state, end to end.
    func packedBuffers() -> [Float] {
        var values: [Float] = []
        values.reserveCapacity(bufferCount)
        for t in buffers { values.append(contentsOf: UnsafeBufferPointer(start: t.pointer, count: t.count)) }
        return values
    }

    func unpackBuffers(_ values: [Float]) {
        var offset = 0
        for t in buffers {
            values.withUnsafeBufferPointer { t.pointer.update(from: $0.baseAddress! + offset, count: t.count) }
            offset += t.count
        }
    }

    /// A 64-bit digest of the parameters and buffers' bits: equal digests across workers mean identical replicas.
    func digest() -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ pointer: UnsafePointer<Float>, _ count: Int) {
            pointer.withMemoryRebound(to: UInt32.self, capacity: count) { words in
                for i in 0..<count { hash = (hash ^ UInt64(words[i])) &* 0x100_0000_01b3 }
            }
        }
        mix(flat.values.pointer, flat.count)
        for t in buffers { mix(t.pointer, t.count) }
        return hash
    }

    /// Loads the tensors of a state dictionary whose names, after `prefix`, are the model's and whose shapes match;
    /// returns what was loaded and what was not, with why.
    /// Copies the entries of a state dictionary into the model by name (after `prefix`), only those whose model name
    /// starts with one of `only` (all when empty). Returns the model names loaded and what could not be.
    func load(initial path: String, prefix: String, only: [String] = []) throws -> (loaded: Set<String>, skipped: [String]) {
        let file: SafetensorsFile
        do { file = try SafetensorsFile(path: path) } catch { throw TrainingError("init \(path): \(error)") }
        let state = Dictionary(model.namedState(), uniquingKeysWith: { first, _ in first })
        var loaded = Set<String>(), skipped: [String] = []
        for name in file.names {
            let target = prefix + name
            guard only.isEmpty || only.contains(where: { target.hasPrefix($0) }) else { continue }
            let entry = try file.entry(name)
            switch state[target] {
            case .tensor(let t)?:
                guard entry.dtype == .f32, entry.shape == t.shape else {
                    skipped.append("\(name) (\(entry.dtype.rawValue) \(entry.shape); the model's \(target) is F32 \(t.shape))")
                    continue
                }
                try file.copyFloats(name, into: t.buffer)
                loaded.insert(target)
            case .counter(let c)?:
                guard entry.dtype == .i64, entry.count == 1 else { skipped.append("\(name) (not an I64 scalar)"); continue }
                c.value = try file.int64s(name)[0]
                loaded.insert(target)
            case nil:
                skipped.append("\(name) (the model has no \(target))")
            }
        }
        return (loaded, skipped)
    }

    /// The count of the model's state entries, for saying how many kept their seeded values.
    var stateCount: Int { model.namedState().count }
}

/// Where a run stands, saved with its replica in one checkpoint file: enough to go on as if never stopped.
struct Progress: Codable, Equatable {
    /// Optimiser steps taken.
    var step = 0
    /// The epoch under way, and the next step within it.
    var epoch = 0
    var stepInEpoch = 0
    /// The best dev weighted F1 so far (-1 before the first evaluation), its epoch, and epochs since it.
    var best = -1.0
    var bestEpoch = -1
    var epochsWithoutImprovement = 0
    /// Bytes of `metrics.jsonl` that belong to the steps taken (a resumed run cuts the file there).
    var metricsBytes = 0
    /// Wall-clock seconds spent training before this point, over every run.
    var seconds = 0.0
    /// Dev figures of every evaluated epoch, for the summary.
    var devHistory: [DevFigures] = []
}


/// Checkpoint files: the replica's flat buffers and the progress, written whole to a temporary name and renamed.
enum Checkpoint {
    static func write(_ replica: Replica, progress: Progress, settings: TrainingSettings, to path: String) throws {
        var writer = SafetensorsWriter()
        let n = replica.flat.count
        writer.add("parameters", shape: [n], floats: UnsafeBufferPointer(start: replica.flat.values.pointer, count: n))
        writer.add("adam_m", shape: [n], floats: UnsafeBufferPointer(start: replica.adam.exponentialAverage.pointer, count: n))
        writer.add("adam_v", shape: [n], floats: UnsafeBufferPointer(start: replica.adam.exponentialAverageSquares.pointer, count: n))
        writer.add("buffers", shape: [replica.bufferCount], floats: replica.packedBuffers())
        writer.add("counters", shape: [replica.counters.count], int64s: replica.counters.map(\.value))
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        writer.metadata = ["progress": String(decoding: try encoder.encode(progress), as: UTF8.self),
                           "settings": String(decoding: try encoder.encode(settings), as: UTF8.self)]
        try writer.write(to: path)
    }

    /// The progress saved at `path` if it is a checkpoint of these settings; nil when there is none to resume.
    static func progress(at path: String, settings: TrainingSettings) throws -> Progress? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let file = try SafetensorsFile(path: path)
        guard let saved = file.metadata["settings"].flatMap({ try? JSONDecoder().decode(TrainingSettings.self, from: Data($0.utf8)) }),
              saved == settings else { return nil }
        guard let text = file.metadata["progress"] else { throw TrainingError("checkpoint \(path) has no progress") }
        return try JSONDecoder().decode(Progress.self, from: Data(text.utf8))
    }

    static func restore(_ replica: Replica, from path: String) throws {
        let file = try SafetensorsFile(path: path)
        try file.copyFloats("parameters", into: UnsafeMutableBufferPointer(start: replica.flat.values.pointer, count: replica.flat.count))
        try file.copyFloats("adam_m", into: UnsafeMutableBufferPointer(start: replica.adam.exponentialAverage.pointer, count: replica.flat.count))
        try file.copyFloats("adam_v", into: UnsafeMutableBufferPointer(start: replica.adam.exponentialAverageSquares.pointer, count: replica.flat.count))
        replica.unpackBuffers(try file.floats("buffers"))
        for (counter, value) in zip(replica.counters, try file.int64s("counters")) { counter.value = value }
    }
}
