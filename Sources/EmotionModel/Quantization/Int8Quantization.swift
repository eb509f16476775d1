/// Symmetric int8 quantization with one scale per output channel (the first axis): each channel's largest magnitude
/// maps to 127, zero stays exactly zero. What `model_int8.onnx` stores, and what the engine applies to its own
/// weights to score the quantized model.
public struct Int8Quantization: Sendable {
    /// The int8 codes, in the layout given.
    public var codes: [Int8]
    public var scales: [Float]

    /// `values` holds `channels` output channels one after another.
    public init(_ values: [Float], channels: Int) {
        precondition(channels > 0 && values.count % channels == 0)
        let columns = values.count / channels
        var codes = [Int8](repeating: 0, count: values.count), scales = [Float](repeating: 1, count: channels)
        for c in 0..<channels {
            let row = values[(c * columns)..<((c + 1) * columns)]
            let largest = row.reduce(Float(0)) { max($0, abs($1)) }
            let scale = largest > 0 ? largest / 127 : 1
            scales[c] = scale
            for (i, value) in row.enumerated() { codes[c * columns + i] = Int8(max(-127, min(127, (value / scale).rounded()))) }
        }
        self.codes = codes
        self.scales = scales
    }

    /// The values the quantized weight stands for, as a runtime's DequantizeLinear computes them.
    public var dequantized: [Float] {
        let columns = codes.count / scales.count
        return codes.enumerated().map { Float($0.element) * scales[$0.offset / columns] }
    }
}
