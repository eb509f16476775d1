import Foundation
import Tensor

/// MODEL.md's `hashinit`: deterministic values from a tensor's name and element index, which this project and
/// the PyTorch fixtures both generate, so tests compare 13 M weights without storing them.
public enum HashInit {
    public static func key(_ name: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in name.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return hash
    }

    /// The 24-bit value `z >> 40` for element `index`.
    public static func bits(key: UInt64, index: Int) -> UInt64 {
        var z = key &+ UInt64(index + 1) &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z = z ^ (z >> 31)
        return z >> 40
    }

    /// u in [0, 1) for element `index` of the tensor `name`.
    public static func uniform(_ name: String, count: Int) -> [Double] {
        let k = key(name)
        return (0..<count).map { Double(bits(key: k, index: $0)) / 16_777_216 }
    }

    /// The value MODEL.md gives a state-dictionary tensor of this name and shape (float64, rounded once).
    public static func values(name: String, shape: [Int]) -> [Float] {
        let count = shape.reduce(1, *)
        let last = name.split(separator: ".").last.map(String.init) ?? name
        let u = uniform(name, count: count)
        let rule: (Double) -> Double
        if name.hasSuffix("running_var") { rule = { 0.5 + $0 } }
        else if name.hasSuffix("running_mean") { rule = { 0.2 * ($0 - 0.5) } }
        else if shape.count == 1 && last.contains("bias") { rule = { 0.2 * ($0 - 0.5) } }
        else if shape.count == 1 && last == "weight" { rule = { 1.0 + 0.2 * ($0 - 0.5) } }
        else {
            let fanIn = count / max(shape.first ?? 1, 1)
            let bound = (3.0 / Double(fanIn)).squareRoot()
            rule = { (2.0 * $0 - 1.0) * bound }
        }
        return u.map { Float(rule($0)) }
    }

    /// A test input: `(2u - 1) * scale`.
    public static func input(name: String, shape: [Int], scale: Double = 1) -> Tensor {
        Tensor(uniform(name, count: shape.reduce(1, *)).map { Float((2.0 * $0 - 1.0) * scale) }, shape: shape)
    }
}

extension Module {
    /// Fills every parameter and buffer with its `hashinit` value (counters with 0).
    public func hashInitialize() {
        for (name, entry) in namedState() {
            switch entry {
            case .tensor(let t):
                let values = HashInit.values(name: name, shape: t.shape)
                values.withUnsafeBufferPointer { t.pointer.update(from: $0.baseAddress!, count: t.count) }
            case .counter(let c): c.value = 0
            }
        }
    }
}
