import Foundation

/// Things expensive to make (an FFTW plan, a 100 MB landmark model), made once per process and key and
/// shared by every item of every stage that asks.
final class SharedInstances<Key: Hashable, Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Key: Value] = [:]

    func value(for key: Key, make: (Key) throws -> Value) rethrows -> Value {
        lock.lock()
        defer { lock.unlock() }
        if let made = values[key] { return made }
        let made = try make(key)
        values[key] = made
        return made
    }
}
