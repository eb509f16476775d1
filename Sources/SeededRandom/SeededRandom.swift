/// SplitMix64 (Steele, Lea and Flood): a small, fast generator whose whole stream follows from one seed, so every
/// clip can be generated on its own (in parallel, in any order) and still come out the same, and a data order is the
/// same on every machine.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// A generator for one named part of the dataset: independent streams from one seed.
    public init(seed: Int, _ parts: Int...) {
        var mixed = UInt64(bitPattern: Int64(seed)) &* 0x9E37_79B9_7F4A_7C15
        for part in parts { mixed = (mixed ^ UInt64(bitPattern: Int64(part))) &* 0xBF58_476D_1CE4_E5B9 &+ 0x94D0_49BB_1331_11EB }
        state = mixed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [low, high).
    public mutating func uniform(_ low: Double, _ high: Double) -> Double {
        low + (high - low) * Double(next() >> 11) / Double(1 << 53)
    }

    /// An index drawn with the given (unnormalised) weights.
    public mutating func pick(weights: [Double]) -> Int {
        var target = uniform(0, weights.reduce(0, +))
        for (index, weight) in weights.enumerated() {
            if target < weight { return index }
            target -= weight
        }
        return weights.count - 1
    }
}
