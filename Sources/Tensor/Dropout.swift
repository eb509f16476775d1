import Foundation

/// A seeded source of uniform numbers (SplitMix64) for dropout masks, so a training run can be repeated; also
/// a `RandomNumberGenerator` for anything else that must draw the same numbers in every run.
public final class RandomGenerator: RandomNumberGenerator, @unchecked Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// Starts the stream again from `seed`: training reseeds the dropout generator every step from (seed, rank, step),
    /// so a resumed run draws what the uninterrupted one drew without saving generator state.
    public func reseed(_ seed: UInt64) { state = seed }

    @inline(__always)
    public func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 24 bits.
    @inline(__always)
    public func uniform() -> Float { Float(next() >> 40) * 0x1p-24 }
}

/// Inverted dropout: each element is zeroed with probability `p` and the rest scaled by 1 / (1 - p).
/// The identity when `p` is 0 (the fixtures' setting) or outside training.
public func dropout(_ x: Tensor, p: Float, training: Bool, generator: RandomGenerator) -> Tensor {
    guard training, p > 0 else { return x }
    precondition(p < 1, "dropout probability \(p) must be below 1")
    let keep = 1 / (1 - p)
    let mask = Tensor(uninitialized: x.shape)
    for i in 0..<x.count { mask.pointer[i] = generator.uniform() >= p ? keep : 0 }
    return x * mask
}
