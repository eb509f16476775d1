import Foundation

/// A value computed on another thread from the moment it is made, and waited for where it is first needed: a
/// status parses the run record and the stat cache while it scans the dataset, instead of before.
final class Background<Value>: @unchecked Sendable {
    private let group = DispatchGroup()
    private var result: Value?

    init(_ work: @escaping @Sendable () -> Value) {
        DispatchQueue.global().async(group: group) { self.result = work() }
    }

    init(ready value: Value) {
        result = value
    }

    var value: Value {
        group.wait()
        return result!
    }
}
