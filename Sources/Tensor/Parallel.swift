import OneDNN

/// Runs `body(i)` for i in 0..<count on oneDNN's threads when the work (elements touched) pays for it.
@inline(__always)
func parallelFor(_ count: Int, work: Int, _ body: (Int) -> Void) {
    if work < 1 << 16 || count < 2 {
        for i in 0..<count { body(i) }
    } else {
        DNNL.parallelFor(count, body)
    }
}
