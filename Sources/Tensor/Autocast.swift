import OneDNN

public typealias Precision = OneDNN.Precision

/// The precision convolutions and matrix products compute in, as PyTorch's CPU autocast region: bf16 operands with
/// fp32 sums inside `withPrecision(.bf16)`, fp32 elsewhere. An operation's backward pass computes in the precision its
/// forward pass was recorded in.
public enum Autocast {
    @TaskLocal static var current = Precision.fp32

    public static var precision: Precision { current }
}

/// Runs `body` with convolutions and matrix products in `precision`.
public func withPrecision<T>(_ precision: Precision, _ body: () throws -> T) rethrows -> T {
    try Autocast.$current.withValue(precision, operation: body)
}

/// A stage's or command's `precision`: fp32, bf16 (refused where the CPU cannot compute it natively), or auto (bf16 where
/// it can, fp32 elsewhere).
public enum PrecisionSetting: String, CaseIterable, Sendable, Codable {
    case fp32, bf16, auto

    /// The precision to compute in on this machine.
    public func resolved() throws -> Precision {
        switch self {
        case .fp32: return .fp32
        case .auto: return Precision.bf16.unsupported == nil ? .bf16 : .fp32
        case .bf16:
            if let why = Precision.bf16.unsupported {
                throw PrecisionError(description: "precision bf16: \(why); use precision fp32, or auto to take bf16 only where the CPU has it")
            }
            return .bf16
        }
    }
}

/// A precision this machine cannot compute in, in words.
public struct PrecisionError: Error, CustomStringConvertible {
    public let description: String
}
