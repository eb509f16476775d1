import Foundation
import Tensor

/// `nn.GRU(batch_first=True)`, multi-layer and optionally bidirectional, with PyTorch's gate equations and
/// weight layout: `weight_ih_l{k}[_reverse]` (3H, in), `weight_hh_l{k}[_reverse]` (3H, H), biases (3H), rows in
/// r, z, n order. The initial hidden state is zero.
public final class GRU: Module {
    public let inputSize: Int, hiddenSize: Int, layers: Int, bidirectional: Bool

    private struct Direction {
        let weightIH: Tensor, weightHH: Tensor, biasIH: Tensor, biasHH: Tensor
    }
    private var directions: [[Direction]] = []

    public init(inputSize: Int, hiddenSize: Int, layers: Int = 1, bidirectional: Bool = false) {
        self.inputSize = inputSize
        self.hiddenSize = hiddenSize
        self.layers = layers
        self.bidirectional = bidirectional
        super.init()
        let gates = 3 * hiddenSize
        for layer in 0..<layers {
            let layerInput = layer == 0 ? inputSize : hiddenSize * (bidirectional ? 2 : 1)
            var perLayer: [Direction] = []
            for suffix in bidirectional ? ["", "_reverse"] : [""] {
                let d = Direction(weightIH: Module.makeParameter([gates, layerInput]), weightHH: Module.makeParameter([gates, hiddenSize]),
                                  biasIH: Module.makeParameter([gates]), biasHH: Module.makeParameter([gates]))
                register(parameter: "weight_ih_l\(layer)\(suffix)", d.weightIH)
                register(parameter: "weight_hh_l\(layer)\(suffix)", d.weightHH)
                register(parameter: "bias_ih_l\(layer)\(suffix)", d.biasIH)
                register(parameter: "bias_hh_l\(layer)\(suffix)", d.biasHH)
                perLayer.append(d)
            }
            directions.append(perLayer)
        }
    }

    /// Output (B, T, H * directions), and the last hidden state of each layer and direction (layers * dirs, B, H).

    /// PyTorch's: every weight and bias U(±1/sqrt(hidden_size)).
    override public func resetParameters(_ random: RandomGenerator) {
        let bound = 1 / Float(hiddenSize).squareRoot()
        for (_, tensor) in namedParameters() { tensor.fillUniform(bound: bound, random) }
    }
    public func callAsFunction(_ x: Tensor) -> (output: Tensor, hidden: Tensor) {
        precondition(x.rank == 3 && x.shape[2] == inputSize, "GRU: input \(x.shape), expected (B, T, \(inputSize))")
        let batch = x.shape[0], steps = x.shape[1]
        var input = x
        var finals: [Tensor] = []
        for layer in 0..<layers {
            var outputs: [Tensor] = []
            for (index, d) in directions[layer].enumerated() {
                let reverse = index == 1
                // The input projection of every step at once; only the hidden projection is sequential.
                let inputGates = linear(input, weight: d.weightIH, bias: d.biasIH).permuted([1, 0, 2])
                var h = Tensor(zeros: [batch, hiddenSize])
                var states = [Tensor?](repeating: nil, count: steps)
                for t in reverse ? Array((0..<steps).reversed()) : Array(0..<steps) {
                    let hiddenGates = linear(h, weight: d.weightHH, bias: d.biasHH)
                    h = gruCell(inputGates: inputGates.select(axis: 0, t), hiddenGates: hiddenGates, hidden: h)
                    states[t] = h
                }
                outputs.append(stack(states.map { $0! }, axis: 1))
                finals.append(h)
            }
            input = outputs.count == 1 ? outputs[0] : concat(outputs, axis: 2)
        }
        return (input, stack(finals, axis: 0))
    }
}
