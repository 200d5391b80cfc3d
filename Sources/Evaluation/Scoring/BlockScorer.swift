import TensorKit

/// Scores one block of queries × local videos (MODEL.md §3):
///
///     S[q,v] = w_clip · max_c q̂·ĉ[v,c] + w_frame · q̂·f̂[v]
///
/// with two sgemms and the clip max fused right after the first:
/// 1. `clipScores` [Qb, Vb·Mc] = Q_b · C_bᵀ — C_b is the block's Vb·Mc clip rows, contiguous
///    in the [Vr, Mc, d] shard, so one sgemm with n = Vb·Mc;
/// 2. `blockScores` [Qb, Vb] = Q_b · F_bᵀ;
/// 3. `blockScores[i,j] = combine(max of clipScores[i, j·Mc ..< (j+1)·Mc], blockScores[i,j])`,
///    in place, while the block is still in cache.
///
/// **Bit-exactness.** A score is a pure function of the block it was computed in: the same
/// (query range, video range) gives the same sgemm call (shapes, pointers, strides) and the same
/// fused kernel, hence the same bits. The evaluator relies on this to take a ground-truth score
/// in one pass and compare against it in another (`ShardedEvaluator`). Any other set of query
/// rows against the same video block (`score(rows:count:videoBlock:into:)`: exact-bf16's
/// re-scoring) gets the same bits per row too: only the number of rows (m) changes, and a row's
/// bits never depend on m (the matrix engine's guarantee, `MatrixEngineTests`); n, k, the
/// strides and the B operand stay those of the block.
///
/// The products run with the matrix engine's current selection: the evaluator sets the
/// precision around each call (`ScoringMode`). Buffers are the workspace's, sized by the plan;
/// nothing is allocated per block.
struct BlockScorer {
    let plan: ScoringPlan
    let weights: RankingWeights
    let queries: UnsafePointer<Float>   // [Q, d]
    let clips: UnsafePointer<Float>     // [Vr, Mc, d]
    let frames: UnsafePointer<Float>    // [Vr, d]
    let clipScores: UnsafeMutablePointer<Float>   // ≥ Qb·Vb·Mc
    let blockScores: UnsafeMutablePointer<Float>  // ≥ Qb·Vb

    /// Seconds spent in the two sgemms and in the fused clip-max, accumulated.
    private(set) var gemmSeconds = 0.0
    private(set) var fuseSeconds = 0.0
    /// Multiply-add FLOPs executed (2·m·n·k per sgemm), accumulated.
    private(set) var flops = 0.0
    /// The part of `gemmSeconds` and `flops` run in bf16.
    private(set) var bf16GemmSeconds = 0.0
    private(set) var bf16Flops = 0.0

    init(plan: ScoringPlan, weights: RankingWeights, queries: UnsafePointer<Float>, clips: UnsafePointer<Float>,
         frames: UnsafePointer<Float>, workspace: Workspace) {
        self.plan = plan
        self.weights = weights
        self.queries = queries
        self.clips = clips
        self.frames = frames
        clipScores = workspace.floats(plan.queryBlock * plan.videoBlock * plan.clipsPerVideo, repeating: 0).baseAddress!
        blockScores = workspace.floats(plan.queryBlock * plan.videoBlock, repeating: 0).baseAddress!
    }

    /// Scores query block `i` × video block `j`; afterwards `blockScores` holds
    /// S[q,v] for q in `plan.queryRange(i)`, v in `plan.videoRange(j)`, row-major with row
    /// stride `plan.videoRange(j).count`.
    mutating func score(queryBlock i: Int, videoBlock j: Int) {
        let qs = plan.queryRange(i)
        score(rows: queries + qs.lowerBound * plan.dim, count: qs.count, videoBlock: j, into: blockScores)
    }

    /// Scores `m` query rows at `a` (row stride d; m ≤ Qb) against video block `j` with the
    /// block's own products — the same n, k, strides and B as `score(queryBlock:videoBlock:)` —
    /// into `scores` (m × Vb_j, row-major). Uses `clipScores` as its scratch.
    mutating func score(rows a: UnsafePointer<Float>, count m: Int, videoBlock j: Int, into scores: UnsafeMutablePointer<Float>) {
        let vs = plan.videoRange(j)
        let nv = vs.count, mc = plan.clipsPerVideo, d = plan.dim
        guard m > 0 && nv > 0 else { return }
        let t0 = MonotonicClock.now()
        // Row-invariant: a query's scores get the same bits in a whole block and in a re-scored
        // subset of its rows (exact-bf16 reproduces fp32 by re-scoring near-tie rows).
        MatrixEngine.gemm(transB: true, m: m, n: nv * mc, k: d, a: a, lda: d,
                  b: clips + vs.lowerBound * mc * d, ldb: d, c: clipScores, ldc: nv * mc, rowInvariant: true)
        MatrixEngine.gemm(transB: true, m: m, n: nv, k: d, a: a, lda: d,
                  b: frames + vs.lowerBound * d, ldb: d, c: scores, ldc: nv, rowInvariant: true)
        let t1 = MonotonicClock.now()
        fuseClipMax(clipScores: clipScores, scores: scores, count: m * nv, clips: mc, weights: weights)
        let t2 = MonotonicClock.now()
        let executed = 2.0 * Double(m) * Double(nv) * Double(mc + 1) * Double(d)
        gemmSeconds += t1 - t0
        fuseSeconds += t2 - t1
        flops += executed
        if MatrixEngine.selection.precision == .bf16 {
            bf16GemmSeconds += t1 - t0
            bf16Flops += executed
        }
    }
}

/// scores[p] = weights.combine(clip: max(clipScores[p·Mc ..< (p+1)·Mc]), frame: scores[p]) for
/// p in 0..<count (each (query, video) pair of a block, row-major): the max over a video's Mc
/// clip similarities, fused with the weighted sum. Mc = 32 (the model's map size) has an
/// unrolled path: two 4-lane running maxima over the 32 values, then 4 → 1.
@inline(never)
func fuseClipMax(clipScores: UnsafePointer<Float>, scores: UnsafeMutablePointer<Float>, count: Int,
                 clips mc: Int, weights: RankingWeights) {
    let raw = UnsafeRawPointer(clipScores)
    if mc == 32 {
        for p in 0..<count {
            scores[p] = weights.combine(clip: max32(raw + p * 128), frame: scores[p])
        }
        return
    }
    for p in 0..<count {
        let row = clipScores + p * mc
        var c = 0
        var best = row[0]
        if mc >= 4 {
            var m = (raw + p * mc * 4).loadUnaligned(as: SIMD4<Float>.self)
            c = 4
            while c + 4 <= mc {
                m = lanewiseMax(m, (raw + (p * mc + c) * 4).loadUnaligned(as: SIMD4<Float>.self))
                c += 4
            }
            best = horizontalMax(m)
        }
        while c < mc {
            if row[c] > best { best = row[c] }
            c += 1
        }
        scores[p] = weights.combine(clip: best, frame: scores[p])
    }
}

/// The maximum of the 32 floats at `p`.
@inline(__always)
func max32(_ p: UnsafeRawPointer) -> Float {
    var a = p.loadUnaligned(fromByteOffset: 0, as: SIMD4<Float>.self)
    var b = p.loadUnaligned(fromByteOffset: 16, as: SIMD4<Float>.self)
    a = lanewiseMax(a, p.loadUnaligned(fromByteOffset: 32, as: SIMD4<Float>.self))
    b = lanewiseMax(b, p.loadUnaligned(fromByteOffset: 48, as: SIMD4<Float>.self))
    a = lanewiseMax(a, p.loadUnaligned(fromByteOffset: 64, as: SIMD4<Float>.self))
    b = lanewiseMax(b, p.loadUnaligned(fromByteOffset: 80, as: SIMD4<Float>.self))
    a = lanewiseMax(a, p.loadUnaligned(fromByteOffset: 96, as: SIMD4<Float>.self))
    b = lanewiseMax(b, p.loadUnaligned(fromByteOffset: 112, as: SIMD4<Float>.self))
    return horizontalMax(lanewiseMax(a, b))
}

/// Lane-wise maximum written as four scalar selects: LLVM turns this into one `maxps`, where
/// SIMD masks (`replacing(with:where:)`) compile to mask arithmetic about 4× slower on the
/// baseline x86-64 target Swift builds for (measured: 4.8 vs 18 ns per 32-float max).
@inline(__always)
func lanewiseMax(_ a: SIMD4<Float>, _ b: SIMD4<Float>) -> SIMD4<Float> {
    SIMD4(b[0] > a[0] ? b[0] : a[0], b[1] > a[1] ? b[1] : a[1], b[2] > a[2] ? b[2] : a[2], b[3] > a[3] ? b[3] : a[3])
}

@inline(__always)
func horizontalMax(_ v: SIMD4<Float>) -> Float {
    let x = v[1] > v[0] ? v[1] : v[0]
    let y = v[3] > v[2] ? v[3] : v[2]
    return y > x ? y : x
}
