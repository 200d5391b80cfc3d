import MPIKit
import TensorKit
#if canImport(Glibc)
import Glibc
#endif

/// The PRVR loss over the global batch (MODEL.md §3, §4; MS-SL, GMMFormer, MamFusion), computed
/// in shards across ranks (DISTRIBUTED.md §3; the worked design is SHARDED-HEAD.md). Rank r keeps
/// the embeddings of its own videos and all their captions; only the query side travels.
///
///     L = lf0·NCE(S_clip') + TRIP(S_clip) + lf1·NCE(S_frame') + TRIP(S_frame) + lf2·QDL(x)
///
/// What the query-diverse loss takes, x, is the model's `QueryDiverseStage`: the second query
/// pass q2 itself (`UnfusedQueries`, GMMFormer) or q2 through MamFusion's fusion modules
/// (`FusionStage`), which run inside this head across ranks. The head itself has no model case.
///
/// Forward, on every rank:
/// 1. one all-gather of the query side [q | the stage's parts] (d floats per query and part; the
///    fusion stage adds its keys/values K₂, V₂) into global order;
/// 2. the four score matrices of **all** queries × its own videos (`TiledSimilarity`, in tiles
///    that do not depend on the world size, so the scores are the same bits on any P);
/// 3. the stage's forward (the fusion stage: v2t fusion of its own videos, one all-gather of the
///    fused videos' keys/values, t2v fusion of its own queries), then its part of the
///    query-diverse loss on the normalised x — local, a video's captions are all on its rank;
/// 4. the loss statistics: column (v2t) terms are local; row (t2v) terms are rebuilt exactly:
///    - one MAX all-reduce of [row maxima of S_clip', S_frame' | positives S[q,y_q] | random
///      negatives S[q,n_q]] (each positive and negative filled by its owner, −∞ elsewhere), so
///      every rank holds the same bits of every value a hinge decision depends on;
///    - in the hard phase, per-rank top-k negative lists (score, global video) merged across
///      ranks (MAXLOC for a pool of 1, a merge operation otherwise): the drawn position of the
///      merged list is the negative, with its score;
///    - one SUM all-reduce of the rows' Σexp(S − max) and the partial loss values (for the
///      logged value and the NCE row logsumexps, never for a decision).
/// Backward: dS of its own columns; the score backward gives dC, dF and a partial dq for all
/// queries; the query-diverse loss gives ∂L/∂x of its own queries, which the stage takes back to
/// dq2 (and, for fusion, dF and partial gradients of the gathered parts); one reduce-scatter
/// returns [dq | the stage's parts] to their owners, and the stage finishes. Every parameter
/// gradient, the fusion's included, is then a per-rank partial that the gradient all-reduce sums.
///
/// Communication per step (floats; Q queries, V videos, p stage parts): gathers (1 + p)·d·Q (+
/// the stage's), reduce-scatters the same, all-reduces 6Q + 2Q (+ 2·Q·k records in the hard
/// phase, k ≤ hard_pool_size). Memory on a rank with V_r videos: four Q×V_r score matrices and
/// their gradients, two arg-max matrices, and the stage's (fusion: heads × V_r × Q and
/// heads × Q_r × V probabilities).
public final class PRVRLossHead: ShardedHead {
    public let slots: PRVREncoders.Slots
    public let stage: any QueryDiverseStage
    /// The loss hyper-parameters (MODEL.md §4).
    public let loss: LossConfiguration
    let similarity: TiledSimilarity
    let d: Int, mc: Int
    var geometry = HeadGeometry()
    private var sampling = TripletSampling(seed: 0, step: 0, useHardNegatives: false, hardPoolSize: 1)
    private var pool = 0

    // Forward state.
    let send = ActivationBuffer(), receive = ActivationBuffer()
    let queries = ActivationBuffer()
    let embeddings = ActivationBuffer()
    /// x̂ = the normalised input of the query-diverse loss (own queries), and its row norms.
    let diverseHat = ActivationBuffer(), diverseNorm = ActivationBuffer()
    /// x itself (the stage's output, kept by the stage until backward).
    private var diverseInput: UnsafePointer<Float>?
    let exchange = ActivationBuffer(), rowLogSumExp = ActivationBuffer(), columnStatistics = ActivationBuffer()
    let work = ActivationBuffer()
    let sums = ReusableBuffer<Double>()
    let records = ReusableBuffer<RankedScore>()
    /// The triplet decisions of the last `forward`, per branch (clip, then frame): t2v, for every
    /// query of the batch, the negative video (global, −1: none) and the hinge m + S[q,neg] −
    /// S[q,y_q] — the same bits on every rank; v2t, for each own video (column), the negative
    /// query (global) and its hinge.
    public let textToVideoNegative = IndexBuffer(), textToVideoHinge = ActivationBuffer()
    public let videoToTextNegative = IndexBuffer(), videoToTextHinge = ActivationBuffer()

    // Backward state.
    let dScores = ActivationBuffer(), dQueries = ActivationBuffer()
    let dEmbeddings = ActivationBuffer(), dDiverseHat = ActivationBuffer()

    /// - Parameters:
    ///   - slots: where q, q2, C and F are in the step's embedding buffers.
    ///   - stage: what the query-diverse loss takes (the model's).
    public init(configuration c: RunConfiguration, slots: PRVREncoders.Slots, stage: any QueryDiverseStage) {
        self.slots = slots
        self.stage = stage
        loss = LossConfiguration(c)
        d = c.hiddenSize
        mc = c.mapSize
        similarity = TiledSimilarity(features: d, clips: mc)
    }

    /// The stage's groups (MamFusion: `fusion`), final when `backward` returns.
    public var parameterGroups: [ParameterGroup] { stage.parameterGroups }

    /// The score matrices of all queries × this rank's videos (Q × V_r each), after `forward`.
    public var scores: TiledSimilarity { similarity }

    // MARK: - Forward

    /// The loss of the global batch (the same terms on every rank, up to the summation order of
    /// one SUM all-reduce), keeping what `backward` needs. Reads this rank's q, q2 (own queries,
    /// local order, Q_r × d), C (V_r·Mc × d) and F (V_r × d) from `embeddings`.
    public func forward(_ e: EmbeddingBuffers, batch: GlobalBatch, assignment: RankAssignment, key: StepKey,
                        collectives: inout StepCollectives) throws -> LossTerms {
        try geometry.update(batch: batch, assignment: assignment, rank: collectives.world.rank)
        sampling = loss.sampling(seed: key.seed, step: key.step, epoch: key.epoch)
        let g = geometry, Q = g.queryCount, V = g.videoCount, Qr = g.ownQueryCount, Vr = g.ownVideoCount, d = self.d
        let n = mc + 1
        let q = UnsafePointer(e.pointer(slots.q)), q2 = UnsafePointer(e.pointer(slots.q2))
        let C = UnsafePointer(e.pointer(slots.clips)), F = UnsafePointer(e.pointer(slots.frame))

        // 1. The query side, gathered: [q | the stage's parts] per query.
        let ownParts = [q] + stage.gatherParts(q2: q2, rows: Qr)
        let globalParts = [queries.reserve(Q * d)] + stage.gatherDestinations(queries: Q)
        let out = send.reserve(max(Qr * ownParts.count * d, 1))
        RowOrder.pack(ownParts, rows: Qr, width: d, into: out)
        let gathered = receive.reserve(max(Q * ownParts.count * d, 1))
        try collectives.allgather("the query gather", send: out, into: gathered, rowsPerRank: g.queriesPerRank, width: ownParts.count * d)
        RowOrder.toGlobal(gathered, order: g.queryOrder, width: d, parts: globalParts)
        let Qg = globalParts[0]

        // 2. Scores of all queries × own videos, from blocks E_v = [C_v; F_v].
        let E = embeddings.reserve(max(Vr * n * d, 1))
        for j in 0..<Vr {
            (E + j * n * d).update(from: C + j * mc * d, count: mc * d)
            (E + (j * n + mc) * d).update(from: F + j * d, count: d)
        }
        g.videos.withUnsafeBufferPointer { similarity.forward(q: Qg, queries: Q, embeddings: E, videos: Vr, globalVideos: $0.baseAddress!) }

        // 3. The stage gives the query-diverse loss's input x of own queries; its loss is local.
        let x = try stage.forward(q2: q2, F: F, geometry: g, send: send, receive: receive, collectives: &collectives)
        diverseInput = x
        let xh = diverseHat.reserve(Qr * d)
        L2Normalize.forward(x: x, y: xh, norms: diverseNorm.reserve(Qr), rows: Qr, cols: d)
        var queryDiverse = 0.0
        if let local = g.localLabels {
            queryDiverse = QueryDiverseLoss.forward(normalized: xh, dimension: d, labels: local, alpha: loss.queryDiverseAlpha,
                                                    delta: loss.queryDiverseDelta, queryCount: Q)
        }

        // 4. Row statistics and the values of hinge decisions, exchanged.
        pool = TripletLoss.negativePool(videos: V, sampling: sampling)
        let exchanged = exchange.reserve(6 * Q)
        fillExchange(exchanged)
        try collectives.allreduce("the row maxima and triplet values", UnsafeMutableBufferPointer(start: exchanged, count: 6 * Q), .max)
        if sampling.useHardNegatives && pool > 0 {
            let r = records.reserve(2 * Q * pool)
            collectTopNegatives(into: r)
            try collectives.allreduceTopK("the hard-negative merge", UnsafeMutableBufferPointer(start: r, count: 2 * Q * pool), slots: pool)
        }
        let partials = 7
        let s = sums.reserve(2 * Q + partials)
        let columns = columnStatistics.reserve(max(4 * Vr, 1)), w = work.reserve(max(2 * V, 1))
        let rowSums = rowLogSumExp.reserve(2 * Q)  // Σexp first, logsumexp after the reduction
        rowSums.update(repeating: 0, count: 2 * Q)
        NCELoss.accumulateRowExpSums(scores: similarity.clipUnnormalized.pointer, rows: Q, columns: Vr, shift: exchanged, into: rowSums, work: w)
        NCELoss.accumulateRowExpSums(scores: similarity.frameUnnormalized.pointer, rows: Q, columns: Vr, shift: exchanged + Q, into: rowSums + Q,
                                     work: w)
        for i in 0..<(2 * Q) { s[i] = Double(rowSums[i]) }
        // Partials: [v2t NCE clip, frame | Σ own positives S'[q,y_q] clip, frame | v2t triplet
        // clip, frame | query-diverse].
        let p = s + 2 * Q
        localNCETerms(columns: columns, work: w, into: p)
        p[4] = videoToTextValue(branch: 0)
        p[5] = videoToTextValue(branch: 1)
        p[6] = queryDiverse
        try collectives.allreduce("the loss sums", UnsafeMutableBufferPointer(start: s, count: 2 * Q + partials), .sum)
        var rowTotal = [0.0, 0.0]
        for b in 0..<2 {
            for i in 0..<Q {
                let lse = Double(exchanged[b * Q + i]) + log(s[b * Q + i])
                rowLogSumExp.pointer[b * Q + i] = Float(lse)
                rowTotal[b] += lse
            }
        }
        let (clipT2V, frameT2V) = decideTextToVideo(exchanged)
        return PRVRLossTerms.terms(
            clipNCE: Double(loss.clipNCEWeight) * ((rowTotal[0] - p[2]) / Double(Q) + p[0] / Double(V)),
            clipTriplet: clipT2V / Double(Q) + p[4] / Double(V),
            frameNCE: Double(loss.frameNCEWeight) * ((rowTotal[1] - p[3]) / Double(Q) + p[1] / Double(V)),
            frameTriplet: frameT2V / Double(Q) + p[5] / Double(V),
            queryDiverse: Double(loss.queryDiverseWeight) * p[6])
    }

    /// The score matrix of branch b (0: clip, 1: frame) for the triplet (normalised) and NCE
    /// (unnormalised) terms.
    private func tripletScores(_ b: Int) -> UnsafeMutablePointer<Float> { b == 0 ? similarity.clip.pointer : similarity.frame.pointer }
    private func nceScores(_ b: Int) -> UnsafeMutablePointer<Float> { b == 0 ? similarity.clipUnnormalized.pointer : similarity.frameUnnormalized.pointer }
    private func branchTerms(_ b: Int) -> SimilarityBranch { b == 0 ? .clip : .frame }

    /// [row max of S_clip' | row max of S_frame' | S_clip[q,y_q] | S_frame[q,y_q] | S_clip[q,n_q] |
    /// S_frame[q,n_q]] over this rank's columns, −∞ where this rank holds no such value.
    private func fillExchange(_ x: UnsafeMutablePointer<Float>) {
        let g = geometry, Q = g.queryCount, Vr = g.ownVideoCount
        x.update(repeating: -.infinity, count: 6 * Q)
        NCELoss.accumulateRowMaxima(scores: nceScores(0), rows: Q, columns: Vr, into: x)
        NCELoss.accumulateRowMaxima(scores: nceScores(1), rows: Q, columns: Vr, into: x + Q)
        let labels = g.labels!
        for b in 0..<2 {
            let S = tripletScores(b), term = branchTerms(b).textToVideoTerm
            for i in 0..<Q {
                let own = Int(g.positiveColumn[i])
                if own >= 0 { x[(2 + b) * Q + i] = S[i * Vr + own] }
                guard !sampling.useHardNegatives, pool > 0 else { continue }
                let k = TripletLoss.drawnRank(query: i, pool: pool, sampling: sampling, term: term)
                let negative = TripletLoss.randomNegative(rank: k, positive: Int(labels.queryVideo[i]))
                let column = Int(g.column[negative])
                if column >= 0 { x[(4 + b) * Q + i] = S[i * Vr + column] }
            }
        }
    }

    /// Per branch and query, this rank's best (drawn position + 1) negatives, in lists of
    /// `pool` records.
    private func collectTopNegatives(into r: UnsafeMutablePointer<RankedScore>) {
        let g = geometry, Q = g.queryCount, Vr = g.ownVideoCount, labels = g.labels!
        r.update(repeating: .none, count: 2 * Q * pool)
        g.videos.withUnsafeBufferPointer { videos in
            for b in 0..<2 {
                let S = tripletScores(b), term = branchTerms(b).textToVideoTerm
                for i in 0..<Q {
                    let k = TripletLoss.drawnRank(query: i, pool: pool, sampling: sampling, term: term)
                    TripletLoss.collectTopNegatives(row: S + i * Vr, columns: Vr, videos: videos.baseAddress, positive: Int(labels.queryVideo[i]),
                                                    keep: k + 1, into: r + (b * Q + i) * pool)
                }
            }
        }
    }

    /// The local NCE parts of both branches b: into[b] = Σ over own columns of the v2t terms
    /// (keeping each column's statistics for backward), into[2 + b] = Σ over own queries of the
    /// positive score S'[q, y_q] (the t2v term's other part).
    private func localNCETerms(columns: UnsafeMutablePointer<Float>, work: UnsafeMutablePointer<Float>,
                               into p: UnsafeMutablePointer<Double>) {
        let g = geometry, Q = g.queryCount, Vr = g.ownVideoCount, labels = g.labels!
        g.videos.withUnsafeBufferPointer { videos in
            for b in 0..<2 {
                let S = nceScores(b)
                p[b] = Vr == 0 ? 0 : NCELoss.columnTerms(scores: S, rows: Q, columns: Vr, videos: videos.baseAddress!, labels: labels,
                                                         columnLogSumExp: columns + 2 * b * Vr, positiveLogSumExp: columns + (2 * b + 1) * Vr,
                                                         work: work)
                var total = 0.0
                for i in 0..<Q where g.positiveColumn[i] >= 0 { total += Double(S[i * Vr + Int(g.positiveColumn[i])]) }
                p[2 + b] = total
            }
        }
    }

    /// This rank's v2t triplet selections of branch b (kept for backward); returns Σ relu(hinge).
    private func videoToTextValue(branch b: Int) -> Double {
        let g = geometry, Vr = g.ownVideoCount
        let negative = videoToTextNegative.reserve(max(2 * Vr, 1)) + b * Vr
        let hinge = videoToTextHinge.reserve(max(2 * Vr, 1)) + b * Vr
        g.videos.withUnsafeBufferPointer { videos in
            guard let base = videos.baseAddress else { return }
            TripletLoss.selectVideoToText(scores: tripletScores(b), columns: Vr, videos: base, labels: g.labels!,
                                          margin: loss.margin, sampling: sampling, term: branchTerms(b).videoToTextTerm,
                                          negative: negative, hinge: hinge)
        }
        var total = 0.0
        for j in 0..<Vr where hinge[j] > 0 { total += Double(hinge[j]) }
        return total
    }

    /// Every t2v negative and hinge, from exchanged values only (the same bits on every rank);
    /// returns Σ relu(hinge) of each branch.
    private func decideTextToVideo(_ x: UnsafePointer<Float>) -> (Double, Double) {
        let g = geometry, Q = g.queryCount, labels = g.labels!
        let negative = textToVideoNegative.reserve(2 * Q), hinge = textToVideoHinge.reserve(2 * Q)
        var totals = [0.0, 0.0]
        for b in 0..<2 {
            let term = branchTerms(b).textToVideoTerm
            for i in 0..<Q {
                let at = b * Q + i
                guard pool > 0 else { negative[at] = -1; hinge[at] = 0; continue }
                let k = TripletLoss.drawnRank(query: i, pool: pool, sampling: sampling, term: term)
                let score: Float
                if sampling.useHardNegatives {
                    let record = records.pointer[at * pool + k]
                    negative[at] = record.index
                    score = record.score
                } else {
                    negative[at] = Int32(TripletLoss.randomNegative(rank: k, positive: Int(labels.queryVideo[i])))
                    score = x[(4 + b) * Q + i]
                }
                hinge[at] = loss.margin + score - x[(2 + b) * Q + i]
                if hinge[at] > 0 { totals[b] += Double(hinge[at]) }
            }
        }
        return (totals[0], totals[1])
    }

    // MARK: - Backward

    /// ∂L/∂(q, q2, C, F) of this rank's items into `gradients` (every row written), and this
    /// rank's partial gradients of the stage's parameters (accumulated); after `forward` on the
    /// same embeddings.
    public func backward(_ e: EmbeddingBuffers, into gradients: EmbeddingBuffers, collectives: inout StepCollectives) throws {
        let g = geometry, Q = g.queryCount, V = g.videoCount, Qr = g.ownQueryCount, Vr = g.ownVideoCount, d = self.d
        let q2 = UnsafePointer(e.pointer(slots.q2)), F = UnsafePointer(e.pointer(slots.frame))
        gradients.reserve(queries: Qr, videos: Vr)
        let n = mc + 1, labels = g.labels!
        let block = Q * Vr
        let dS = dScores.zeroed(max(4 * block, 1))
        let dClip = dS, dClipU = dS + block, dFrame = dS + 2 * block, dFrameU = dS + 3 * block
        let w = work.reserve(max(2 * V, 1)), columns = columnStatistics.pointer
        g.positiveColumn.withUnsafeBufferPointer { positive in
            for b in 0..<2 {
                NCELoss.backwardBlock(scores: nceScores(b), rows: Q, columns: Vr, rowLogSumExp: rowLogSumExp.pointer + b * Q,
                                      columnLogSumExp: columns + 2 * b * Vr, positiveLogSumExp: columns + (2 * b + 1) * Vr,
                                      positiveColumn: positive.baseAddress!, queryCount: Q, videoCount: V,
                                      upstream: b == 0 ? loss.clipNCEWeight : loss.frameNCEWeight, dScores: b == 0 ? dClipU : dFrameU, work: w)
            }
        }
        // Triplet terms (weight 1): t2v from the shared decisions, v2t from the local ones.
        for b in 0..<2 {
            let dT = b == 0 ? dClip : dFrame
            let perQuery = 1 / Float(Q), perVideo = 1 / Float(V)
            for i in 0..<Q where textToVideoHinge.pointer[b * Q + i] > 0 {
                let negative = Int(textToVideoNegative.pointer[b * Q + i])
                let column = Int(g.column[negative]), positive = Int(g.positiveColumn[i])
                if column >= 0 { dT[i * Vr + column] += perQuery }
                if positive >= 0 { dT[i * Vr + positive] -= perQuery }
            }
            for j in 0..<Vr where videoToTextHinge.pointer[b * Vr + j] > 0 {
                let negative = Int(videoToTextNegative.pointer[b * Vr + j])
                dT[negative * Vr + j] += perVideo
                let range = labels.videoQueryRanges[Int(g.videos[j])]
                let perPositive = perVideo / Float(range.count)
                for i in range { dT[i * Vr + j] -= perPositive }
            }
        }
        // Scores → partial dq of all queries, dE of own videos.
        let dQg = dQueries.zeroed(Q * d), dE = dEmbeddings.zeroed(max(Vr * n * d, 1))
        similarity.backward(q: queries.pointer, embeddings: embeddings.pointer, dClip: dClip, dClipUnnormalized: dClipU,
                            dFrame: dFrame, dFrameUnnormalized: dFrameU, dq: dQg, dE: dE)
        let gC = gradients.pointer(slots.clips), gF = gradients.pointer(slots.frame)
        for j in 0..<Vr {
            (gC + j * mc * d).update(from: dE + j * n * d, count: mc * d)
            (gF + j * d).update(from: dE + (j * n + mc) * d, count: d)
        }
        // Query-diverse loss → its input x → the stage: dq2 (and, for fusion, dF and the
        // gradients of its gathered parts).
        let dxh = dDiverseHat.zeroed(max(Qr * d, 1))
        if let local = g.localLabels {
            QueryDiverseLoss.backward(normalized: diverseHat.pointer, dimension: d, labels: local, alpha: loss.queryDiverseAlpha,
                                      delta: loss.queryDiverseDelta, upstream: loss.queryDiverseWeight, queryCount: Q, dNormalized: dxh)
        }
        let gq2 = gradients.pointer(slots.q2)
        gq2.update(repeating: 0, count: max(Qr * d, 1))
        let dDiverse = stage.inputGradient(rows: Qr, dq2: gq2)
        L2Normalize.backward(x: diverseInput!, norms: diverseNorm.pointer, dy: dxh, dx: dDiverse, rows: Qr, cols: d)
        let stageGradients = try stage.backward(dInput: dDiverse, q2: q2, F: F, dq2: gq2, dF: gF, geometry: g, send: send, receive: receive,
                                                collectives: &collectives)
        // The query side's gradients to their owners; the stage finishes its part.
        let queryGradients = [UnsafePointer(dQg)] + stageGradients
        let out = send.reserve(max(Q * queryGradients.count * d, 1)), own = receive.reserve(max(Qr * queryGradients.count * d, 1))
        RowOrder.toRanked(queryGradients, order: g.queryOrder, width: d, into: out)
        try collectives.reduceScatter("the query gradient reduce-scatter", send: out, into: own, rowsPerRank: g.queriesPerRank,
                                      width: queryGradients.count * d)
        RowOrder.unpack(own, rows: Qr, width: d, into: [gradients.pointer(slots.q)] + stage.scatterDestinations(rows: Qr))
        stage.finishBackward(q2: q2, rows: Qr, dq2: gq2)
    }

    /// Bytes held by the head's buffers and its stage's (fusion probabilities excluded).
    public var bytes: Int {
        [send, receive, queries, embeddings, diverseHat, diverseNorm, exchange, rowLogSumExp, columnStatistics, work, textToVideoHinge,
         videoToTextHinge, dScores, dQueries, dEmbeddings, dDiverseHat].reduce(0) { $0 + $1.bytes }
            + similarity.bytes + sums.bytes + records.bytes + stage.bytes
    }
}
