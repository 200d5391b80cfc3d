/// Sums over the rows of a row-major matrix, one result per column, with blocked summation.
///
/// Bias and LayerNorm-affine gradients sum over every token of a batch (up to ~10⁵ rows). A plain
/// running sum per column would carry an error growing with the row count; here rows are summed
/// in blocks of `rowBlock` into a small stack buffer, and only the block totals are added to the
/// output, so the error grows like (rowBlock + rows/rowBlock)·ε. Column chunks of `columnChunk`
/// keep that buffer at 1 KiB (always on the stack: no heap allocation).
enum ColumnSums {
    static let rowBlock = 64
    static let columnChunk = 256

    /// out[j] += scale · Σ_r x[r·ld + j] for j < cols.
    static func accumulate(_ x: UnsafePointer<Float>, rows: Int, cols: Int, ld: Int,
                           into out: UnsafeMutablePointer<Float>, scale: Float = 1) {
        if rows == 0 || cols == 0 { return }
        withUnsafeTemporaryAllocation(of: Float.self, capacity: columnChunk) { scratch in
            let partial = scratch.baseAddress!
            var r0 = 0
            while r0 < rows {
                let r1 = min(r0 + rowBlock, rows)
                var c0 = 0
                while c0 < cols {
                    let width = min(columnChunk, cols - c0)
                    partial.update(repeating: 0, count: width)
                    for r in r0..<r1 {
                        let row = x + r * ld + c0
                        for j in 0..<width { partial[j] += row[j] }
                    }
                    let o = out + c0
                    for j in 0..<width { o[j] += scale * partial[j] }
                    c0 += width
                }
                r0 = r1
            }
        }
    }
}
