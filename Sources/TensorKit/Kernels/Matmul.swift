/// Matrix products C = α·op(A)·op(B) and their gradients, row-major, through `MatrixEngine.gemm`.
///
/// Shapes: op(A) is m×k (A is stored k×m when `transA`), op(B) is k×n (B is stored n×k when
/// `transB`), C is m×n. Leading dimensions default to dense storage (`lda` = stored row length of
/// A, i.e. k, or m when transposed; likewise `ldb`; `ldc` = n); pass them explicitly to address
/// sub-matrices, e.g. one attention head (`lda` = d) inside a [tokens × d] activation.
public enum Matmul {
    /// C = α·op(A)·op(B), or C += α·op(A)·op(B) when `accumulate`.
    public static func forward(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
                               a: UnsafePointer<Float>, lda: Int? = nil,
                               b: UnsafePointer<Float>, ldb: Int? = nil,
                               c: UnsafeMutablePointer<Float>, ldc: Int? = nil,
                               accumulate: Bool = false) {
        MatrixEngine.gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                  a: a, lda: lda ?? (transA ? m : k), b: b, ldb: ldb ?? (transB ? k : n),
                  beta: accumulate ? 1 : 0, c: c, ldc: ldc ?? n)
    }

    /// Gradients of C = α·op(A)·op(B) given dC. **Accumulates**: dA += ∂L/∂A, dB += ∂L/∂B
    /// (either may be nil to skip it). dA and dB are laid out like A and B (same leading dimension).
    ///
    /// d op(A) = α·dC·op(B)ᵀ and d op(B) = α·op(A)ᵀ·dC, transposed back when A or B is stored
    /// transposed.
    public static func backward(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
                                a: UnsafePointer<Float>, lda: Int? = nil,
                                b: UnsafePointer<Float>, ldb: Int? = nil,
                                dC: UnsafePointer<Float>, ldc: Int? = nil,
                                dA: UnsafeMutablePointer<Float>?, dB: UnsafeMutablePointer<Float>?) {
        let lda = lda ?? (transA ? m : k), ldb = ldb ?? (transB ? k : n), ldc = ldc ?? n
        if let dA {
            switch (transA, transB) {
            case (false, false):  // dA[m×k] += α·dC·Bᵀ
                MatrixEngine.gemm(transA: false, transB: true, m: m, n: k, k: n, alpha: alpha,
                          a: dC, lda: ldc, b: b, ldb: ldb, beta: 1, c: dA, ldc: lda)
            case (false, true):   // dA[m×k] += α·dC·B   (B stored n×k)
                MatrixEngine.gemm(transA: false, transB: false, m: m, n: k, k: n, alpha: alpha,
                          a: dC, lda: ldc, b: b, ldb: ldb, beta: 1, c: dA, ldc: lda)
            case (true, false):   // dA[k×m] += α·B·dCᵀ  (B stored k×n)
                MatrixEngine.gemm(transA: false, transB: true, m: k, n: m, k: n, alpha: alpha,
                          a: b, lda: ldb, b: dC, ldb: ldc, beta: 1, c: dA, ldc: lda)
            case (true, true):    // dA[k×m] += α·Bᵀ·dCᵀ (B stored n×k)
                MatrixEngine.gemm(transA: true, transB: true, m: k, n: m, k: n, alpha: alpha,
                          a: b, lda: ldb, b: dC, ldb: ldc, beta: 1, c: dA, ldc: lda)
            }
        }
        if let dB {
            switch (transA, transB) {
            case (false, false):  // dB[k×n] += α·Aᵀ·dC  (A stored m×k)
                MatrixEngine.gemm(transA: true, transB: false, m: k, n: n, k: m, alpha: alpha,
                          a: a, lda: lda, b: dC, ldb: ldc, beta: 1, c: dB, ldc: ldb)
            case (true, false):   // dB[k×n] += α·A·dC   (A stored k×m)
                MatrixEngine.gemm(transA: false, transB: false, m: k, n: n, k: m, alpha: alpha,
                          a: a, lda: lda, b: dC, ldb: ldc, beta: 1, c: dB, ldc: ldb)
            case (false, true):   // dB[n×k] += α·dCᵀ·A  (A stored m×k)
                MatrixEngine.gemm(transA: true, transB: false, m: n, n: k, k: m, alpha: alpha,
                          a: dC, lda: ldc, b: a, ldb: lda, beta: 1, c: dB, ldc: ldb)
            case (true, true):    // dB[n×k] += α·dCᵀ·Aᵀ (A stored k×m)
                MatrixEngine.gemm(transA: true, transB: true, m: n, n: k, k: m, alpha: alpha,
                          a: dC, lda: ldc, b: a, ldb: lda, beta: 1, c: dB, ldc: ldb)
            }
        }
    }

    /// `batch` independent products C_i = α·op(A_i)·op(B_i) (or += when `accumulate`) with
    /// A_i = a + i·strideA, B_i = b + i·strideB, C_i = c + i·strideC. A stride of 0 shares an
    /// operand across the batch (e.g. one weight matrix for every item).
    public static func forwardBatched(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
                                      a: UnsafePointer<Float>, lda: Int? = nil, strideA: Int,
                                      b: UnsafePointer<Float>, ldb: Int? = nil, strideB: Int,
                                      c: UnsafeMutablePointer<Float>, ldc: Int? = nil, strideC: Int,
                                      batch: Int, accumulate: Bool = false) {
        MatrixEngine.gemmStridedBatched(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                                a: a, lda: lda ?? (transA ? m : k), strideA: strideA,
                                b: b, ldb: ldb ?? (transB ? k : n), strideB: strideB,
                                beta: accumulate ? 1 : 0, c: c, ldc: ldc ?? n, strideC: strideC, batch: batch)
    }

    /// Gradients of `forwardBatched`. **Accumulates** into dA and dB (laid out like A and B, same
    /// strides); an operand shared with stride 0 receives the sum of every item's gradient.
    public static func backwardBatched(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
                                       a: UnsafePointer<Float>, lda: Int? = nil, strideA: Int,
                                       b: UnsafePointer<Float>, ldb: Int? = nil, strideB: Int,
                                       dC: UnsafePointer<Float>, ldc: Int? = nil, strideC: Int,
                                       dA: UnsafeMutablePointer<Float>?, dB: UnsafeMutablePointer<Float>?,
                                       batch: Int) {
        for i in 0..<batch {
            backward(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                     a: a + i * strideA, lda: lda, b: b + i * strideB, ldb: ldb,
                     dC: dC + i * strideC, ldc: ldc,
                     dA: dA.map { $0 + i * strideA }, dB: dB.map { $0 + i * strideB })
        }
    }
}
