import OpenBLAS
import TestSupport
import XCTest

/// OpenBLAS's sgemm, `make bench-model`'s comparison for the engine's, computes the same definition as oneDNN's.
final class OpenBLASTests: XCTestCase {
    func testMatrixProductInEveryTranspositionAndWithAccumulation() {
        checkMatrixProduct { BLAS.sgemm(transA: $0, transB: $1, m: $2, n: $3, k: $4, alpha: $5, a: $6, lda: $7, b: $8, ldb: $9, beta: $10, c: $11, ldc: $12) }
    }
}
