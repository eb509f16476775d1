import Foundation

/// Runs independent pieces of work on several threads and keeps the first error, so that callers (hashing
/// files, searching frames, writing clips) need no lock of their own and never force-unwrap a result slot.
///
/// Indices are handed out in increasing order from one shared counter: a slow item never holds back a
/// whole stripe of others, and with `threads` 1 the work runs in order on the calling thread.
public enum ParallelWork {
    /// Calls `body` once for every index in `0..<count`, on at most `threads` threads. After the first error
    /// no further index is started; that error is rethrown once the started ones return.
    public static func forEach(_ count: Int, threads: Int, _ body: (Int) throws -> Void) throws {
        guard count > 0 else { return }
        let lanes = max(1, min(threads, count))
        if lanes == 1 {
            for index in 0..<count { try body(index) }
            return
        }
        let state = SharedState()
        DispatchQueue.concurrentPerform(iterations: lanes) { _ in
            while let index = state.claim(below: count) {
                do { try body(index) } catch { state.fail(error) }
            }
        }
        if let error = state.error { throw error }
    }

    /// `transform` of every element, in order, computed on at most `threads` threads.
    public static func map<Element, Result>(_ elements: [Element], threads: Int,
                                            _ transform: (Element) throws -> Result) throws -> [Result] {
        let slots = Slots<Result>(elements.count)
        try forEach(elements.count, threads: threads) { index in slots.set(index, try transform(elements[index])) }
        return slots.values()
    }

    private final class SharedState: @unchecked Sendable {
        private let lock = NSLock()
        private var next = 0
        private var failure: Error?

        func claim(below count: Int) -> Int? {
            lock.lock()
            defer { lock.unlock() }
            guard failure == nil, next < count else { return nil }
            next += 1
            return next - 1
        }

        func fail(_ error: Error) {
            lock.lock()
            if failure == nil { failure = error }
            lock.unlock()
        }

        var error: Error? {
            lock.lock()
            defer { lock.unlock() }
            return failure
        }
    }

    /// One result slot per index, each written by exactly one thread.
    private final class Slots<Value>: @unchecked Sendable {
        private let lock = NSLock()
        private var storage: [Value?]

        init(_ count: Int) { storage = Array(repeating: nil, count: count) }

        func set(_ index: Int, _ value: Value) {
            lock.lock()
            storage[index] = value
            lock.unlock()
        }

        /// Every slot's value; only called once every index has been set.
        func values() -> [Value] {
            storage.enumerated().map { index, value in
                guard let value else { preconditionFailure("ParallelWork.map: slot \(index) was never filled") }
                return value
            }
        }
    }
}
