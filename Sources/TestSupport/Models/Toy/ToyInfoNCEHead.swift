import MamFusion
import MPIKit
import TensorKit
#if canImport(Glibc)
import Glibc
#endif

/// The toy model's loss: symmetric InfoNCE over the global batch, sharded across ranks like the
/// PRVR head's NCE (DISTRIBUTED.md §3), with S[q, v] = t_q · v_v (each caption's positive its own
/// video):
///
///     L = ½ [ mean_q (LSE_v S[q, ·] − S[q, y_q]) + mean_v (LSE_q S[·, v] − LSE_{q of v} S[q, v]) ]
///
/// (on a batch of pairs, one caption per video: CLIP's loss). Rank r holds its videos (columns)
/// and their captions; the captions travel:
/// 1. one all-gather of the captions' t (Q × d), into global order;
/// 2. the scores of all captions × its videos, one product per video over all Q captions — the
///    same operands and shape on any number of ranks, so the same bits;
/// 3. column terms local; row log-sum-exps from a MAX all-reduce of the row maxima and a SUM
///    all-reduce of Σexp(S − max) with the partial terms.
/// Backward: dS of its columns (`NCELoss.backwardBlock`), dv = dSᵀ·T of its videos, and a partial
/// dT = dS·V of every caption, reduce-scattered to the captions' owners. No decision is taken
/// from exchanged values, so P ranks equal 1 rank up to summation order.
public final class ToyInfoNCEHead: ShardedHead {
    let text: EmbeddingLayout.Slot, video: EmbeddingLayout.Slot
    var geometry = HeadGeometry()
    let send = ActivationBuffer(), receive = ActivationBuffer(), captions = ActivationBuffer(), scores = ActivationBuffer()
    let rowMaxima = ActivationBuffer(), rowExpSums = ActivationBuffer(), rowLogSumExp = ActivationBuffer()
    let columnStatistics = ActivationBuffer(), work = ActivationBuffer(), dScores = ActivationBuffer(), dCaptions = ActivationBuffer()
    let sums = ReusableBuffer<Double>()

    public init(text: EmbeddingLayout.Slot, video: EmbeddingLayout.Slot) {
        self.text = text
        self.video = video
    }

    public var parameterGroups: [ParameterGroup] { [] }

    public func forward(_ e: EmbeddingBuffers, batch: GlobalBatch, assignment: RankAssignment, key: StepKey,
                        collectives: inout StepCollectives) throws -> LossTerms {
        try geometry.update(batch: batch, assignment: assignment, rank: collectives.world.rank)
        let g = geometry, Q = g.queryCount, V = g.videoCount, Vr = g.ownVideoCount, d = text.width
        // 1. Every caption, in global order.
        let gathered = receive.reserve(Q * d), T = captions.reserve(Q * d)
        try collectives.allgather("the caption gather", send: e.pointer(text), into: gathered, rowsPerRank: g.queriesPerRank, width: d)
        RowOrder.toGlobal(gathered, order: g.queryOrder, width: d, parts: [T])
        // 2. S[·, j] for own video j: one product over all captions, written into column j.
        let S = scores.reserve(max(Q * Vr, 1)), v = e.pointer(video)
        for j in 0..<Vr { Matmul.forward(m: Q, n: 1, k: d, a: T, b: v + j * d, c: S + j, ldc: Vr) }
        // 3. Row maxima (MAX), then Σexp and the partial terms (SUM).
        let m = rowMaxima.reserve(Q)
        m.update(repeating: -.infinity, count: Q)
        NCELoss.accumulateRowMaxima(scores: S, rows: Q, columns: Vr, into: m)
        try collectives.allreduce("the row maxima", UnsafeMutableBufferPointer(start: m, count: Q), .max)
        let expSums = rowExpSums.zeroed(Q), w = work.reserve(max(2 * Vr, 1)), columns = columnStatistics.reserve(max(2 * Vr, 1))
        NCELoss.accumulateRowExpSums(scores: S, rows: Q, columns: Vr, shift: m, into: expSums, work: w)
        let s = sums.reserve(Q + 2)
        for i in 0..<Q { s[i] = Double(expSums[i]) }
        s[Q] = Vr == 0 ? 0 : g.videos.withUnsafeBufferPointer { videos in
            NCELoss.columnTerms(scores: S, rows: Q, columns: Vr, videos: videos.baseAddress!, labels: g.labels!,
                                columnLogSumExp: columns, positiveLogSumExp: columns + Vr, work: w)
        }
        s[Q + 1] = 0
        for i in 0..<Q where g.positiveColumn[i] >= 0 { s[Q + 1] += Double(S[i * Vr + Int(g.positiveColumn[i])]) }
        try collectives.allreduce("the loss sums", UnsafeMutableBufferPointer(start: s, count: Q + 2), .sum)
        let lse = rowLogSumExp.reserve(Q)
        var rows = 0.0
        for i in 0..<Q {
            let value = Double(m[i]) + log(s[i])
            lse[i] = Float(value)
            rows += value
        }
        return LossTerms([LossTerms.Term("t2v", 0.5 * (rows - s[Q + 1]) / Double(Q)), LossTerms.Term("v2t", 0.5 * s[Q] / Double(V))])
    }

    public func backward(_ e: EmbeddingBuffers, into gradients: EmbeddingBuffers, collectives: inout StepCollectives) throws {
        let g = geometry, Q = g.queryCount, V = g.videoCount, Qr = g.ownQueryCount, Vr = g.ownVideoCount, d = text.width
        gradients.reserve(queries: Qr, videos: Vr)
        let dS = dScores.zeroed(max(Q * Vr, 1)), columns = columnStatistics.pointer
        g.positiveColumn.withUnsafeBufferPointer { positive in
            NCELoss.backwardBlock(scores: scores.pointer, rows: Q, columns: Vr, rowLogSumExp: rowLogSumExp.pointer, columnLogSumExp: columns,
                                  positiveLogSumExp: columns + Vr, positiveColumn: positive.baseAddress!, queryCount: Q, videoCount: V,
                                  upstream: 0.5, dScores: dS, work: work.reserve(max(2 * Vr, 1)))
        }
        // dv = dSᵀ·T (own videos); dT = dS·V (every caption, partial), back to the owners.
        let dT = dCaptions.zeroed(Q * d)
        if Vr > 0 {
            Matmul.forward(transA: true, m: Vr, n: d, k: Q, a: dS, b: captions.pointer, c: gradients.pointer(video))
            Matmul.forward(m: Q, n: d, k: Vr, a: dS, b: e.pointer(video), c: dT)
        }
        let out = send.reserve(Q * d)
        RowOrder.toRanked([UnsafePointer(dT)], order: g.queryOrder, width: d, into: out)
        try collectives.reduceScatter("the caption gradient reduce-scatter", send: out, into: gradients.pointer(text),
                                      rowsPerRank: g.queriesPerRank, width: d)
    }

    public var bytes: Int {
        [send, receive, captions, scores, rowMaxima, rowExpSums, rowLogSumExp, columnStatistics, work, dScores, dCaptions]
            .reduce(0) { $0 + $1.bytes } + sums.bytes
    }
}
