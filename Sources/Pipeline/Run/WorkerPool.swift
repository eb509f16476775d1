import Foundation

/// A fixed set of threads running units of work, and a channel that hands their results back to the
/// one coordinating thread, which alone touches the run's state.
///
/// Each unit says how many cores it keeps busy (a training's workers and threads): the pool starts units in queue order
/// while their cores fit in its own count, so a training that takes every core runs alone rather than beside units that
/// would slow its lock-stepped workers, and the unit next in line is never passed over (it cannot starve).
final class WorkerPool<Event>: @unchecked Sendable {
    private let condition = NSCondition()
    private var queue: [(cores: Int, unit: () -> Event)] = []
    private var head = 0
    /// Cores not taken by running units.
    private var free: Int
    private let capacity: Int
    private var events: [Event] = []
    private var closed = false
    private var threads: [Thread] = []

    init(threads count: Int) {
        capacity = max(1, count)
        free = capacity
        for index in 0..<capacity {
            // Each thread holds the pool until `shutdown` lets it return.
            let thread = Thread { self.work() }
            thread.name = "pipeline-worker-\(index)"
            thread.stackSize = 8 << 20
            threads.append(thread)
            thread.start()
        }
    }

    /// Queues a unit; `first` puts it ahead of everything waiting (a whole stage's single unit should not wait
    /// behind hundreds of another stage's items when stages below it wait for it). `cores` beyond the pool's are capped.
    func submit(first: Bool = false, cores: Int = 1, _ unit: @escaping () -> Event) {
        let entry = (cores: min(max(1, cores), capacity), unit: unit)
        condition.lock()
        if first { queue.insert(entry, at: head) } else { queue.append(entry) }
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
            while (head == queue.count || queue[head].cores > free) && !closed { condition.wait() }
            if closed {
                condition.unlock()
                return
            }
            let (cores, unit) = queue[head]
            head += 1
            free -= cores
            if head == queue.count { queue.removeAll(keepingCapacity: true); head = 0 }
            condition.unlock()
            let event = unit()
            condition.lock()
            free += cores
            events.append(event)
            condition.broadcast()
            condition.unlock()
        }
    }
}
