import COpenMP

extension DNNL {
    /// Threads the engine computes with (OpenMP's pool, which oneDNN and the project's loops share): a training worker
    /// sets its share of the cores before its first step.
    public static var threads: Int {
        get { Int(omp_get_max_threads()) }
        set { omp_set_num_threads(Int32(max(newValue, 1))) }
    }

    private final class Work {
        let count: Int
        let body: (Int) -> Void
        init(count: Int, body: @escaping (Int) -> Void) { self.count = count; self.body = body }
    }

    /// Runs `body(i)` for i in 0..<count on oneDNN's own OpenMP threads, split into one contiguous block per
    /// thread: the project's loops share the pool that runs the convolutions instead of contending with it.
    public static func parallelFor(_ count: Int, _ body: (Int) -> Void) {
        guard count > 1 else { if count == 1 { body(0) }; return }
        withoutActuallyEscaping(body) { body in
            let work = Work(count: count, body: body)
            withExtendedLifetime(work) {
                GOMP_parallel({ raw in
                    let work = Unmanaged<Work>.fromOpaque(raw!).takeUnretainedValue()
                    let threads = Int(omp_get_num_threads()), thread = Int(omp_get_thread_num())
                    let start = work.count * thread / threads, end = work.count * (thread + 1) / threads
                    for i in start..<end { work.body(i) }
                }, Unmanaged.passUnretained(work).toOpaque(), 0, 0)
            }
        }
    }
}
