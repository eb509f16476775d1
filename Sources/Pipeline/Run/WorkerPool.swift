import Foundation

/// A fixed set of threads running units of work, and a channel that hands their results back to the
/// one coordinating thread, which alone touches the run's state.
final class WorkerPool<Event>: @unchecked Sendable {
    private let condition = NSCondition()
    private var queue: [() -> Event] = []
    private var head = 0
    private var events: [Event] = []
    private var closed = false
    private var threads: [Thread] = []

    init(threads count: Int) {
        for index in 0..<max(1, count) {
            // Each thread holds the pool until `shutdown` lets it return.
            let thread = Thread { self.work() }
            thread.name = "pipeline-worker-\(index)"
            thread.stackSize = 8 << 20
            threads.append(thread)
            thread.start()
        }
    }

    /// Queues a unit; `first` puts it ahead of everything waiting (a whole stage's single unit should not wait
    /// behind hundreds of another stage's items when stages below it wait for it).
    func submit(first: Bool = false, _ unit: @escaping () -> Event) {
        condition.lock()
        if first { queue.insert(unit, at: head) } else { queue.append(unit) }
        condition.broadcast()
        condition.unlock()
    }

    /// The next finished unit's event, or nil when none finished before `timeout`.
    func next(timeout: TimeInterval) -> Event? {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date(timeIntervalSinceNow: timeout)
        while events.isEmpty {
            if !condition.wait(until: deadline) { break }
        }
        return events.isEmpty ? nil : events.removeFirst()
    }

    func shutdown() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    private func work() {
        while true {
            condition.lock()
            while head == queue.count && !closed { condition.wait() }
            if head == queue.count && closed {
                condition.unlock()
                return
            }
            let unit = queue[head]
            head += 1
            if head == queue.count { queue.removeAll(keepingCapacity: true); head = 0 }
            condition.unlock()
            let event = unit()
            condition.lock()
            events.append(event)
            condition.broadcast()
            condition.unlock()
        }
    }
}
