import XCTest

/// A row-major sgemm (`C = alpha op(A) op(B) + beta C`) held to its definition, computed here in double precision, in
/// every transposition: the check the engine's and the benchmark's matrix products share. Tolerance: float32 sums of 13
/// products of values in [-1, 1], so 1e-4 relative to the sum of absolute products.
public func checkMatrixProduct(_ sgemm: (_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float, _ a: UnsafePointer<Float>, _ lda: Int,
                                         _ b: UnsafePointer<Float>, _ ldb: Int, _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) -> Void,
                               file: StaticString = #filePath, line: UInt = #line) {
    func values(_ count: Int, seed: Int) -> [Float] { (0..<count).map { Float(sin(Double($0 * 7 + seed) * 0.37)) } }
    let (m, n, k) = (5, 7, 13)
    for (transA, transB) in [(false, false), (true, false), (false, true), (true, true)] {
        let a = values(m * k, seed: 1), b = values(k * n, seed: 2)
        var c = values(m * n, seed: 3)
        let before = c
        let (lda, ldb) = (transA ? m : k, transB ? k : n)
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                c.withUnsafeMutableBufferPointer { c in sgemm(transA, transB, m, n, k, 2, a.baseAddress!, lda, b.baseAddress!, ldb, 0.5, c.baseAddress!, n) }
            }
        }
        for i in 0..<m {
            for j in 0..<n {
                var sum = 0.0, magnitude = 0.0
                for p in 0..<k {
                    let x = Double(transA ? a[p * m + i] : a[i * k + p]), y = Double(transB ? b[j * k + p] : b[p * n + j])
                    sum += x * y
                    magnitude += abs(x * y)
                }
                XCTAssertEqual(Double(c[i * n + j]), 2 * sum + 0.5 * Double(before[i * n + j]), accuracy: 1e-4 * (2 * magnitude + 1),
                               "transA \(transA) transB \(transB) [\(i), \(j)]", file: file, line: line)
            }
        }
    }
}
