import EmotionModel
import Foundation
import Labels
import ModelContract
import NN
import ONNX

/// A trained model's weights by PyTorch name, with shapes: what every export reads.
public struct StateDictionary: Sendable {
    public var entries: [String: (shape: [Int], values: [Float])]

    public init(_ model: EmotionModel) {
        var entries: [String: (shape: [Int], values: [Float])] = [:]
        for (name, entry) in model.namedState() {
            if case .tensor(let tensor) = entry { entries[name] = (tensor.shape, tensor.scalars) }
        }
        self.entries = entries
    }

    func callAsFunction(_ name: String) -> (shape: [Int], values: [Float]) {
        guard let entry = entries[name] else { preconditionFailure("the model has no \(name)") }
        return entry
    }
}

/// MODEL.md's network as an ONNX graph at opset 17: inputs `frames` (B, Tv, 3, S, S) and `mel` (B, 1, 64, Ta) (only
/// those the fusion uses), output `logits` (B, classes). BatchNorm in its inference form, the GRU as ONNX `GRU` with
/// PyTorch's gate layout (`linear_before_reset=1`, gates reordered to z, r, h), attention and layer norm from
/// standard operators. Quantized (`ONNXQuantization`), the weights of convolutions, linear layers and GRUs are stored as
/// int8 with one symmetric scale per output channel and dequantized in the graph; calibrated, the face trunk is in the
/// QDQ form onnxruntime runs on integer kernels.
public enum ONNXExport {
    public static let opset = 17

    public static func model(_ state: StateDictionary, fusion: Fusion, classes: LabelSet, shapes: ExportShapes, quantization: ONNXQuantization = .none,
                             version: String) throws -> Data {
        let writer = Writer(state: state, quantization: quantization)
        let g = writer.graph
        var visual: String?, audio: String?
        if fusion.usesVisual {
            g.input("frames", shape: ["batch", shapes.frames, 3, shapes.size, shapes.size])
            visual = writer.visual("frames", shapes: shapes)
        }
        if fusion.usesAudio {
            g.input("mel", shape: ["batch", 1, shapes.melBands, shapes.melFrames])
            audio = writer.audio("mel", shapes: shapes)
        }
        let fused: String
        switch fusion {
        case .visual: fused = writer.mean(visual!)
        case .audio: fused = writer.mean(audio!)
        case .concat: fused = g.node("Concat", [writer.mean(visual!), writer.mean(audio!)], attributes: ["axis": .int(1)])
        case .crossAttention: fused = writer.crossAttention(visual: visual!, audio: audio!)
        case .transformer: fused = writer.transformer(visual: visual!, audio: audio!, visualSteps: shapes.frames, audioSteps: shapes.melFrames / 8)
        }
        var x = fused
        for (index, layer) in [0, 3, 6].enumerated() {
            x = writer.gemm(x, "classifier.\(layer)")
            if index < 2 { x = g.node("Relu", [x]) }
        }
        g.output(x, as: "logits", shape: ["batch", classes.count])
        return try g.serialized(opset: opset, producer: "MultimodalEmotion", version: version,
                                metadata: ["fusion": fusion.rawValue, "classes": classes.joined])
    }
}

/// How an ONNX export stores the network.
public enum ONNXQuantization {
    /// Float weights: `model.onnx`.
    case none
    /// int8 weights dequantized in the graph, float activations: smaller, computed in floats.
    case weights
    /// As `weights`, and the face trunk (its BatchNorms folded into its convolutions) in static QDQ form: uint8
    /// activations with the calibration's scales around every convolution, the residual sums and the max pool, int8
    /// weights per output channel, int32 biases; onnxruntime fuses each group into an integer kernel.
    case calibrated(FoldedTrunk, TrunkCalibration)
}

/// Emits the layers of the network into one graph.
private final class Writer {
    let graph = GraphBuilder(name: "EmotionModel")
    let state: StateDictionary
    let quantized: Bool
    let trunk: (folded: FoldedTrunk, calibration: TrunkCalibration)?

    init(state: StateDictionary, quantization: ONNXQuantization) {
        self.state = state
        switch quantization {
        case .none: (quantized, trunk) = (false, nil)
        case .weights: (quantized, trunk) = (true, nil)
        case .calibrated(let folded, let calibration): (quantized, trunk) = (true, (folded, calibration))
        }
    }

    /// A float parameter as stored.
    func parameter(_ name: String) -> String {
        let (shape, values) = state(name)
        return graph.constant(name, values, shape: shape)
    }

    /// A weight whose rows are output channels, in the layout `transform` gives it (rows stay output channels along
    /// `axis` afterwards); int8 and dequantized when the export is quantized.
    func weight(_ name: String, rows: [Float], shape: [Int], axis: Int = 0,
                transform: ([Float], [Int]) -> ([Float], [Int]) = { ($0, $1) }) -> String {
        guard quantized else {
            let (values, layout) = transform(rows, shape)
            return graph.constant(name, values, shape: layout)
        }
        let quantization = Int8Quantization(rows, channels: shape[0])
        let (codes, layout) = transform(quantization.codes.map(Float.init), shape)
        graph.constant(name + ".int8", int8: codes.map { Int8($0) }, shape: layout)
        graph.constant(name + ".scale", quantization.scales, shape: [quantization.scales.count])
        graph.constant(name + ".zero", int8: [Int8](repeating: 0, count: quantization.scales.count), shape: [quantization.scales.count])
        return graph.node("DequantizeLinear", [name + ".int8", name + ".scale", name + ".zero"], attributes: ["axis": .int(axis)], outputName: name)
    }

    func storedWeight(_ name: String) -> String {
        let (shape, values) = state(name)
        return weight(name, rows: values, shape: shape)
    }

    // MARK: Layers

    func conv(_ x: String, _ prefix: String, stride: Int, padding: Int, bias: Bool = false) -> String {
        let kernel = state(prefix + ".weight").shape[2]
        var inputs = [x, storedWeight(prefix + ".weight")]
        if bias { inputs.append(parameter(prefix + ".bias")) }
        return graph.node("Conv", inputs, attributes: ["kernel_shape": .ints([kernel, kernel]), "strides": .ints([stride, stride]),
                                                       "pads": .ints([padding, padding, padding, padding])])
    }

    func batchNorm(_ x: String, _ prefix: String) -> String {
        graph.node("BatchNormalization", [x] + ["weight", "bias", "running_mean", "running_var"].map { parameter(prefix + "." + $0) },
                   attributes: ["epsilon": .float(1e-5)])
    }

    /// `nn.Linear` on (N, in) as Gemm with the weight in PyTorch's (out, in) layout.
    func gemm(_ x: String, _ prefix: String) -> String {
        graph.node("Gemm", [x, storedWeight(prefix + ".weight"), parameter(prefix + ".bias")], attributes: ["transB": .int(1)])
    }

    /// `nn.Linear` on (B, L, in): MatMul with the transposed weight, then the bias. `rows` selects a slice of a
    /// packed weight (attention's in-projection).
    func linear(_ x: String, weight name: String, bias: String, rows: Range<Int>? = nil, label: String? = nil) -> String {
        let (shape, values) = state(name)
        let inputs = shape[1], range = rows ?? 0..<shape[0]
        let slice = Array(values[(range.lowerBound * inputs)..<(range.upperBound * inputs)])
        let label = label ?? name
        let w = weight(label, rows: slice, shape: [range.count, inputs], axis: 1) { values, shape in
            (transposed(values, rows: shape[0], columns: shape[1]), [shape[1], shape[0]])
        }
        let b = state(bias).values
        let biasName = graph.constant(label + ".bias_slice", Array(b[range]), shape: [range.count])
        return graph.node("Add", [graph.node("MatMul", [x, w]), biasName])
    }

    func mean(_ sequence: String) -> String { graph.node("ReduceMean", [sequence], attributes: ["axes": .ints([1]), "keepdims": .int(0)]) }

    func layerNorm(_ x: String, _ prefix: String) -> String {
        graph.node("LayerNormalization", [x, parameter(prefix + ".weight"), parameter(prefix + ".bias")], attributes: ["axis": .int(-1), "epsilon": .float(1e-5)])
    }

    private var shapeConstants: [[Int]: String] = [:]

    /// Reshape to `shape` (0 keeps a dimension, -1 infers one); each target shape is one shared constant.
    func reshape(_ x: String, _ shape: [Int]) -> String {
        let name = shapeConstants[shape] ?? graph.constant("shape_" + shape.map { String($0).replacingOccurrences(of: "-", with: "m") }.joined(separator: "_"), int64: shape)
        shapeConstants[shape] = name
        return graph.node("Reshape", [x, name])
    }

    func transpose(_ x: String, _ perm: [Int]) -> String { graph.node("Transpose", [x], attributes: ["perm": .ints(perm)]) }

    // MARK: Encoders

    func visual(_ frames: String, shapes: ExportShapes) -> String {
        var x = reshape(frames, [-1, 3, shapes.size, shapes.size])
        if let trunk {
            x = quantizedTrunk(x, trunk.folded, trunk.calibration)
            x = graph.node("Relu", [gemm(x, "visual.proj")])
            return reshape(x, [-1, shapes.frames, 256])
        }
        x = graph.node("Relu", [batchNorm(conv(x, "visual.backbone.conv1", stride: 2, padding: 3), "visual.backbone.bn1")])
        x = graph.node("MaxPool", [x], attributes: ["kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]), "pads": .ints([1, 1, 1, 1])])
        for layer in 1...4 {
            for block in 0..<2 {
                let prefix = "visual.backbone.layer\(layer).\(block)"
                let stride = layer > 1 && block == 0 ? 2 : 1
                var h = graph.node("Relu", [batchNorm(conv(x, prefix + ".conv1", stride: stride, padding: 1), prefix + ".bn1")])
                h = batchNorm(conv(h, prefix + ".conv2", stride: 1, padding: 1), prefix + ".bn2")
                let shortcut = state.entries[prefix + ".downsample.0.weight"] == nil ? x
                    : batchNorm(conv(x, prefix + ".downsample.0", stride: stride, padding: 0), prefix + ".downsample.1")
                x = graph.node("Relu", [graph.node("Add", [h, shortcut])])
            }
        }
        x = graph.node("Flatten", [graph.node("GlobalAveragePool", [x])], attributes: ["axis": .int(1)])
        x = graph.node("Relu", [gemm(x, "visual.proj")])
        return reshape(x, [-1, shapes.frames, 256])
    }

    // MARK: The int8 trunk

    /// `x` quantized to uint8 codes with `point`'s scale and zero point (one pair of constants per point).
    func quantize(_ x: String, _ point: TrunkPoint) -> String {
        graph.node("QuantizeLinear", [x] + quantizationConstants(point))
    }

    /// The values codes of `point` stand for: a node of its own for each consumer, as onnxruntime's QDQ fusions want.
    func dequantize(_ codes: String, _ point: TrunkPoint) -> String {
        graph.node("DequantizeLinear", [codes] + quantizationConstants(point))
    }

    private var pointConstants: Set<String> = []

    private func quantizationConstants(_ point: TrunkPoint) -> [String] {
        let name = "visual.backbone.int8.\(point)", q = trunk!.calibration[point]
        if pointConstants.insert(name).inserted {
            graph.constant(name + ".scale", [q.scale], shape: [])
            graph.constant(name + ".zero_point", uint8: [q.zeroPoint], shape: [])
        }
        return [name + ".scale", name + ".zero_point"]
    }

    /// An integer convolution in QDQ form: dequantized codes of `input` (quantized with `point`), int8 weights per output
    /// channel and an int32 bias, both dequantized; the caller quantizes the output.
    func quantizedConv(_ codes: String, _ point: TrunkPoint, _ layer: FoldedTrunk.Layer) -> String {
        let q = QuantizedLayer(layer, input: trunk!.calibration[point])
        let name = "visual.backbone.\(layer.name)"
        let shape = [layer.outChannels, layer.inChannels, layer.kernel, layer.kernel]
        graph.constant(name + ".weight.int8", int8: q.weights.codes, shape: shape)
        graph.constant(name + ".weight.scale", q.weights.scales, shape: [layer.outChannels])
        graph.constant(name + ".weight.zero", int8: [Int8](repeating: 0, count: layer.outChannels), shape: [layer.outChannels])
        let weight = graph.node("DequantizeLinear", [name + ".weight.int8", name + ".weight.scale", name + ".weight.zero"], attributes: ["axis": .int(0)])
        graph.constant(name + ".bias.int32", int32: q.bias, shape: [layer.outChannels])
        graph.constant(name + ".bias.scale", q.scales(), shape: [layer.outChannels])
        graph.constant(name + ".bias.zero", int32: [Int32](repeating: 0, count: layer.outChannels), shape: [layer.outChannels])
        let bias = graph.node("DequantizeLinear", [name + ".bias.int32", name + ".bias.scale", name + ".bias.zero"], attributes: ["axis": .int(0)])
        return graph.node("Conv", [dequantize(codes, point), weight, bias],
                          attributes: ["kernel_shape": .ints([layer.kernel, layer.kernel]), "strides": .ints([layer.stride, layer.stride]),
                                       "pads": .ints([layer.padding, layer.padding, layer.padding, layer.padding])])
    }

    /// The trunk on (N, 3, S, S) to the pooled (N, 512), in QDQ form after `QuantizedTrunk`'s plan.
    func quantizedTrunk(_ x: String, _ folded: FoldedTrunk, _ calibration: TrunkCalibration) -> String {
        let stem = quantize(graph.node("Relu", [quantizedConv(quantize(x, .input), .input, folded.stem)]), .stem)
        var h = quantize(graph.node("MaxPool", [dequantize(stem, .stem)], attributes: ["kernel_shape": .ints([3, 3]), "strides": .ints([2, 2]),
                                                                                           "pads": .ints([1, 1, 1, 1])]), .stem)
        var input = TrunkPoint.stem
        for (index, block) in folded.blocks.enumerated() {
            let middle = quantize(graph.node("Relu", [quantizedConv(h, input, block.conv1)]), .conv1(index))
            let branch = dequantize(quantize(quantizedConv(middle, .conv1(index), block.conv2), .conv2(index)), .conv2(index))
            let shortcut = block.downsample.map { dequantize(quantize(quantizedConv(h, input, $0), .downsample(index)), .downsample(index)) }
                ?? dequantize(h, input)
            h = quantize(graph.node("Relu", [graph.node("Add", [branch, shortcut])]), .output(index))
            input = .output(index)
        }
        return graph.node("Flatten", [graph.node("GlobalAveragePool", [dequantize(h, input)])], attributes: ["axis": .int(1)])
    }

    func audio(_ mel: String, shapes: ExportShapes) -> String {
        var x = mel
        for (conv, norm) in [(0, 1), (4, 5), (8, 9)] {
            x = graph.node("Relu", [batchNorm(self.conv(x, "audio.conv.\(conv)", stride: 1, padding: 1, bias: true), "audio.conv.\(norm)")])
            x = graph.node("MaxPool", [x], attributes: ["kernel_shape": .ints([2, 2]), "strides": .ints([2, 2])])
        }
        let steps = shapes.melFrames / 8, features = 128 * (shapes.melBands / 8)
        x = reshape(transpose(x, [0, 3, 1, 2]), [-1, steps, features])
        x = transpose(x, [1, 0, 2])
        for layer in 0..<2 { x = gru(x, layer: layer) }
        return transpose(x, [1, 0, 2])
    }

    /// One bidirectional layer of `nn.GRU` on (T, B, in), giving (T, B, 2H). PyTorch stores gates r, z, n; ONNX wants
    /// z, r, h, and the two directions stacked.
    func gru(_ x: String, layer: Int) -> String {
        func gates(_ name: String) -> (rows: [Float], columns: Int) {
            let (shape, values) = state(name)
            let hidden = shape[0] / 3, columns = shape.count > 1 ? shape[1] : 1
            let block = hidden * columns
            return (Array(values[block..<2 * block]) + Array(values[0..<block]) + Array(values[2 * block..<3 * block]), columns)
        }
        let hidden = state("audio.gru.weight_hh_l\(layer)").shape[1]
        var w: [Float] = [], r: [Float] = [], b: [Float] = []
        var inputs = 0
        for suffix in ["", "_reverse"] {
            let input = gates("audio.gru.weight_ih_l\(layer)\(suffix)")
            inputs = input.columns
            w += input.rows
            r += gates("audio.gru.weight_hh_l\(layer)\(suffix)").rows
            b += gates("audio.gru.bias_ih_l\(layer)\(suffix)").rows + gates("audio.gru.bias_hh_l\(layer)\(suffix)").rows
        }
        let prefix = "audio.gru.l\(layer)"
        // Quantized per direction, since a runtime's per-axis scales run along one axis only.
        func stacked(_ name: String, _ values: [Float], columns: Int) -> String {
            let half = values.count / 2
            let directions = (0..<2).map { d in
                weight("\(name).\(d)", rows: Array(values[(d * half)..<((d + 1) * half)]), shape: [3 * hidden, columns], axis: 1) { ($0, [1] + $1) }
            }
            return graph.node("Concat", directions, attributes: ["axis": .int(0)], outputName: name)
        }
        let wName = stacked(prefix + ".W", w, columns: inputs)
        let rName = stacked(prefix + ".R", r, columns: hidden)
        let bName = graph.constant(prefix + ".B", b, shape: [2, 6 * hidden])
        let y = graph.node("GRU", [x, wName, rName, bName],
                           attributes: ["direction": .string("bidirectional"), "hidden_size": .int(hidden), "linear_before_reset": .int(1)])
        return reshape(transpose(y, [0, 2, 1, 3]), [0, 0, 2 * hidden])
    }

    // MARK: Fusions

    /// `nn.MultiheadAttention(256, 8, batch_first=True)` in evaluation mode.
    func attention(query: String, keyValue: String, _ prefix: String) -> String {
        let (embed, headCount) = (256, 8), depth = embed / headCount
        let packed = prefix + ".in_proj_weight", bias = prefix + ".in_proj_bias"
        func heads(_ x: String, _ which: Int, _ perm: [Int]) -> String {
            let projected = linear(x, weight: packed, bias: bias, rows: which * embed..<(which + 1) * embed, label: "\(packed).\(["q", "k", "v"][which])")
            return transpose(reshape(projected, [0, 0, headCount, depth]), perm)
        }
        let q = heads(query, 0, [0, 2, 1, 3]), k = heads(keyValue, 1, [0, 2, 3, 1]), v = heads(keyValue, 2, [0, 2, 1, 3])
        let scale = graph.constant(prefix + ".scale", [1 / Float(depth).squareRoot()], shape: [])
        let scores = graph.node("Mul", [graph.node("MatMul", [q, k]), scale])
        let context = graph.node("MatMul", [graph.node("Softmax", [scores], attributes: ["axis": .int(-1)]), v])
        let merged = reshape(transpose(context, [0, 2, 1, 3]), [0, 0, embed])
        return linear(merged, weight: prefix + ".out_proj.weight", bias: prefix + ".out_proj.bias")
    }

    func feedForward(_ x: String, first: String, second: String) -> String {
        let h = graph.node("Relu", [linear(x, weight: first + ".weight", bias: first + ".bias")])
        return linear(h, weight: second + ".weight", bias: second + ".bias")
    }

    func crossAttention(visual: String, audio: String) -> String {
        func side(_ own: String, _ other: String, _ tag: String, _ attention: String) -> String {
            let h = layerNorm(graph.node("Add", [own, self.attention(query: own, keyValue: other, "fusion.\(attention)")]), "fusion.\(tag)_norm1")
            let out = layerNorm(graph.node("Add", [h, feedForward(h, first: "fusion.\(tag)_ffn.0", second: "fusion.\(tag)_ffn.3")]), "fusion.\(tag)_norm2")
            return mean(out)
        }
        return graph.node("Concat", [side(visual, audio, "v", "v2a"), side(audio, visual, "a", "a2v")], attributes: ["axis": .int(1)])
    }

    func transformer(visual: String, audio: String, visualSteps: Int, audioSteps: Int) -> String {
        let modality = state("fusion.modality").values
        let tagV = graph.constant("fusion.modality.0", Array(modality[0..<256]), shape: [256])
        let tagA = graph.constant("fusion.modality.1", Array(modality[256..<512]), shape: [256])
        var tokens = graph.node("Concat", [graph.node("Add", [visual, tagV]), graph.node("Add", [audio, tagA])], attributes: ["axis": .int(1)])
        for layer in 0..<2 {
            let prefix = "fusion.encoder.layers.\(layer)"
            let h = layerNorm(graph.node("Add", [tokens, attention(query: tokens, keyValue: tokens, prefix + ".self_attn")]), prefix + ".norm1")
            tokens = layerNorm(graph.node("Add", [h, feedForward(h, first: prefix + ".linear1", second: prefix + ".linear2")]), prefix + ".norm2")
        }
        let split = graph.constant("fusion.split", int64: [visualSteps, audioSteps])
        let parts = graph.nodeOutputs("Split", [tokens, split], attributes: ["axis": .int(1)], outputs: 2)
        return graph.node("Concat", [mean(parts[0]), mean(parts[1])], attributes: ["axis": .int(1)])
    }
}

/// A row-major matrix transposed.
func transposed(_ values: [Float], rows: Int, columns: Int) -> [Float] {
    var out = [Float](repeating: 0, count: values.count)
    for r in 0..<rows { for c in 0..<columns { out[c * rows + r] = values[r * columns + c] } }
    return out
}
