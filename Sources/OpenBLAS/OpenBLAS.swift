import COpenBLAS

/// OpenBLAS's single-precision matrix product, for comparison with oneDNN's and for callers that want BLAS.
public enum BLAS {
    /// Row-major `C = alpha * op(A) * op(B) + beta * C`, with the same conventions as `DNNL.sgemm`.
    package static func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}
