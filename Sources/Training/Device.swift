import OneDNN

/// What a training worker computes on. The exchange, checkpoints and the stage see only host buffers (parameters
/// and gradients in one flat buffer each), so a device that computes elsewhere adds a case here and copies its
/// gradient into the flat buffer before the exchange: nothing else changes.
public enum Device: Codable, Sendable, Equatable, CustomStringConvertible {
    /// The CPU through the engine (oneDNN and the project's loops on OpenMP), with this many threads.
    case cpu(threads: Int)

    /// Makes this process compute on the device; called once, before the first step.
    public func activate() {
        switch self {
        case .cpu(let threads): DNNL.threads = threads
        }
    }

    public var description: String {
        switch self {
        case .cpu(let threads): return "cpu (\(threads) thread\(threads == 1 ? "" : "s"))"
        }
    }
}
