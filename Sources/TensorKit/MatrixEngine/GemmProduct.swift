/// One call of `MatrixEngine.gemm`: C[m×n] = α·op(A)·op(B) + β·C, row-major, with the matrices'
/// row strides as stored (A is k×m when `transA`, B is n×k when `transB`).
struct GemmProduct {
    var transA: Bool, transB: Bool
    var m: Int, n: Int, k: Int
    var alpha: Float
    var a: UnsafePointer<Float>, lda: Int
    var b: UnsafePointer<Float>, ldb: Int
    var beta: Float
    var c: UnsafeMutablePointer<Float>, ldc: Int
    /// Each row of C must get the same bits whatever rows share its product (`MatrixEngine.gemm`).
    var rowInvariant = false

    /// Multiply-adds.
    var multiplyAdds: Int { m * n * k }

    /// A as stored: rows × columns.
    var aRows: Int { transA ? k : m }
    var aColumns: Int { transA ? m : k }
    /// B as stored: rows × columns.
    var bRows: Int { transB ? n : k }
    var bColumns: Int { transB ? k : n }

    /// The sub-product over rows [row, row + rows) of C and the slice [depth, depth + depths) of the
    /// summation, with β replaced (a later slice of the sum accumulates).
    func block(row: Int, rows: Int, depth: Int, depths: Int, beta: Float) -> GemmProduct {
        var p = self
        p.m = rows
        p.k = depths
        p.a = transA ? a + depth * lda + row : a + row * lda + depth
        p.b = transB ? b + depth : b + depth * ldb
        p.c = c + row * ldc
        p.beta = beta
        return p
    }
}

/// How a product's rows (and, for Xᵀ·Y products, its summation) are cut into pieces of fixed
/// sizes, so that the set of shapes an engine sees stays small whatever the batch: whole chunks
/// of `chunk`, then the binary digits of the rest down to `smallest`, then a remainder below
/// `smallest` (returned separately: too thin for a tiled kernel).
///
/// 2,628 rows → 1024, 1024, 512, 64 and a remainder of 4. Every piece size is one of
/// chunk, chunk/2, …, smallest — 7 shapes per product family at the defaults.
struct PieceSizes {
    static let chunk = 1024
    static let smallest = 16

    /// All the piece sizes a dimension can be cut into.
    static let all: [Int] = {
        var sizes: [Int] = []
        var s = chunk
        while s >= smallest { sizes.append(s); s /= 2 }
        return sizes
    }()

    /// Calls `body(offset, size)` for the pieces covering [0, extent) in order and returns the
    /// remainder's (offset, size) (size 0 when none). Allocates nothing.
    @discardableResult
    static func forEach(_ extent: Int, _ body: (_ offset: Int, _ size: Int) -> Void) -> (offset: Int, size: Int) {
        var offset = 0
        while extent - offset >= chunk { body(offset, chunk); offset += chunk }
        var s = chunk / 2
        while s >= smallest {
            if extent - offset >= s { body(offset, s); offset += s }
            s /= 2
        }
        return (offset, extent - offset)
    }
}
