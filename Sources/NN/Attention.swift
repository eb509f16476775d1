import Foundation
import Tensor

/// `nn.MultiheadAttention(batch_first=True)` with a packed `in_proj_weight` (3E, E) and `in_proj_bias` (3E)
/// and an `out_proj` Linear; query and key/value sequences may differ in length. Returns the attended
/// output only (`need_weights=False`).
public final class MultiheadAttention: Module {
    public let embedDim: Int, heads: Int
    public let inProjWeight: Tensor, inProjBias: Tensor
    public let outProj: Linear
    private let attentionDropout: Dropout

    public init(embedDim: Int, heads: Int, dropout: Float = 0, generator: RandomGenerator) {
        precondition(embedDim % heads == 0, "embedding \(embedDim) does not split into \(heads) heads")
        self.embedDim = embedDim
        self.heads = heads
        inProjWeight = Module.makeParameter([3 * embedDim, embedDim])
        inProjBias = Module.makeParameter([3 * embedDim])
        outProj = Linear(embedDim, embedDim)
        attentionDropout = Dropout(dropout, generator: generator)
        super.init()
        register(parameter: "in_proj_weight", inProjWeight)
        register(parameter: "in_proj_bias", inProjBias)
        child("out_proj", outProj)
        child("dropout", attentionDropout)
    }

    /// PyTorch's: xavier_uniform on `in_proj_weight`, zero biases (`out_proj`'s too, after the Linear's own reset).
    override public func resetParameters(_ random: RandomGenerator) {
        let (fanOut, fanIn) = (inProjWeight.shape[0], inProjWeight.shape[1])
        inProjWeight.fillUniform(bound: (6 / Float(fanIn + fanOut)).squareRoot(), random)
        inProjBias.fill(0)
        outProj.bias?.fill(0)
    }

    public func callAsFunction(query: Tensor, key: Tensor, value: Tensor) -> Tensor {
        let e = embedDim, d = embedDim / heads
        precondition(query.rank == 3 && query.shape[2] == e && key.shape == value.shape && key.rank == 3 && key.shape[2] == e
                     && key.shape[0] == query.shape[0], "MultiheadAttention: query \(query.shape), key \(key.shape), value \(value.shape)")
        let batch = query.shape[0], lq = query.shape[1], lk = key.shape[1]
        func project(_ x: Tensor, _ part: Int, _ length: Int) -> Tensor {
            let w = inProjWeight.slice(axis: 0, part * e..<(part + 1) * e), b = inProjBias.slice(axis: 0, part * e..<(part + 1) * e)
            return linear(x, weight: w, bias: b).reshaped([batch, length, heads, d]).permuted([0, 2, 1, 3])
        }
        let q = project(query, 0, lq), k = project(key, 1, lk), v = project(value, 2, lk)
        let scores = matmul(q, k, transposeB: true) * (1 / Float(d).squareRoot())
        let weights = attentionDropout(softmax(scores))
        let attended = matmul(weights, v).permuted([0, 2, 1, 3]).reshaped([batch, lq, e])
        return outProj(attended)
    }
}

/// `nn.TransformerEncoderLayer(batch_first=True, norm_first=False, activation=relu)`: post-norm self-attention
/// and feed-forward blocks, dropout after each.
public final class TransformerEncoderLayer: Module {
    public let selfAttention: MultiheadAttention
    public let linear1: Linear, linear2: Linear
    public let norm1: LayerNorm, norm2: LayerNorm
    private let dropout: Dropout, dropout1: Dropout, dropout2: Dropout

    public init(dModel: Int, heads: Int, feedForward: Int, dropout p: Float, generator: RandomGenerator) {
        selfAttention = MultiheadAttention(embedDim: dModel, heads: heads, dropout: p, generator: generator)
        linear1 = Linear(dModel, feedForward)
        dropout = Dropout(p, generator: generator)
        linear2 = Linear(feedForward, dModel)
        norm1 = LayerNorm(dModel)
        norm2 = LayerNorm(dModel)
        dropout1 = Dropout(p, generator: generator)
        dropout2 = Dropout(p, generator: generator)
        super.init()
        child("self_attn", selfAttention)
        child("linear1", linear1)
        child("dropout", dropout)
        child("linear2", linear2)
        child("norm1", norm1)
        child("norm2", norm2)
        child("dropout1", dropout1)
        child("dropout2", dropout2)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let h = norm1(x + dropout1(selfAttention(query: x, key: x, value: x)))
        return norm2(h + dropout2(linear2(dropout(relu(linear1(h))))))
    }
}
