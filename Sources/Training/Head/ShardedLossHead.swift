import MamFusion
import MPIKit
import TensorKit
#if canImport(Glibc)
import Glibc
#endif

/// The loss over the global batch (MODEL.md §2 fusion, §3, §4, §10), computed in shards across
/// ranks (DISTRIBUTED.md §3; the worked design is SHARDED-HEAD.md). Rank r keeps the embeddings
/// of its own videos and all their captions; only the query side travels.
///
/// One code path for both models: the fusion phases (marked *fusion*) run only when the model
/// has fusion modules (MamFusion). Without them (GMMFormer) the query-diverse loss takes the
/// unfused second query pass q2 of the rank's own queries, so only q travels.
///
/// Forward, on every rank:
/// 1. *fusion:* keys/values of `v2t_fusion` for its own queries (K₂ = W_k q2 + b_k, V₂
///    likewise); then one all-gather of [q | K₂ | V₂] (3d floats per query; GMMFormer: [q], d
///    floats) into global order;
/// 2. the four score matrices of **all** queries × its own videos (`TiledSimilarity`, in tiles
///    that do not depend on the world size, so the scores are the same bits on any P);
/// 3. *fusion:* v2t fusion of its own videos over all queries, keys/values of `t2v_fusion` for
///    those fused videos, one all-gather of them (2d per video), t2v fusion of its own queries
///    over all videos; then its part of the query-diverse loss on the normalised fused queries
///    (GMMFormer: on the normalised q2) — local, a video's captions are all on its rank;
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
/// queries; the query-diverse loss gives dq2 of its own queries (GMMFormer) or, through the
/// fusion backward, partial gradients of the gathered keys/values; reduce-scatters return the
/// partials to their owners (*fusion:* [dK_F̃ | dV_F̃] per video; [dq | dK₂ | dV₂] per query,
/// GMMFormer [dq]), which finish the key/value projections. Every parameter gradient, the
/// fusion's included, is then a per-rank partial that the gradient all-reduce sums.
///
/// Communication per step (floats; Q queries, V videos): gathers 3d·Q + 2d·V (GMMFormer d·Q),
/// reduce-scatters the same, all-reduces 6Q + 2Q (+ 2·Q·k records in the hard phase,
/// k ≤ hard_pool_size). Memory on a rank with V_r videos: four Q×V_r score matrices and their
/// gradients, two arg-max matrices, and the fusion probabilities (heads × V_r × Q and
/// heads × Q_r × V; none for GMMFormer).
public final class ShardedLossHead {
    public let model: MamFusionModel
    let similarity: TiledSimilarity
    let d: Int, mc: Int
    var geometry = HeadGeometry()
    private var sampling = TripletSampling(seed: 0, step: 0, useHardNegatives: false, hardPoolSize: 1)
    private var pool = 0

    // Forward state.
    let send = ActivationBuffer(), receive = ActivationBuffer()
    let queries = ActivationBuffer(), keys = ActivationBuffer(), values = ActivationBuffer()
    let ownKeys = ActivationBuffer(), ownValues = ActivationBuffer()
    let embeddings = ActivationBuffer()
    let fusedKeys = ActivationBuffer(), fusedValues = ActivationBuffer()
    let fusedKeysGlobal = ActivationBuffer(), fusedValuesGlobal = ActivationBuffer()
    /// x̂ = the normalised input of the query-diverse loss (own queries), and its row norms.
    let diverseHat = ActivationBuffer(), diverseNorm = ActivationBuffer()
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

    // Backward state and results.
    let dScores = ActivationBuffer(), dQueries = ActivationBuffer(), dKeys = ActivationBuffer(), dValues = ActivationBuffer()
    let dEmbeddings = ActivationBuffer(), dDiverseHat = ActivationBuffer(), dFusedQueries = ActivationBuffer()
    let dFusedKeys = ActivationBuffer(), dFusedValues = ActivationBuffer(), dFusedVideos = ActivationBuffer()
    let dOwnKeys = ActivationBuffer(), dOwnValues = ActivationBuffer()
    /// ∂L/∂ of this rank's own q, q2 (queries × d), C (videos·Mc × d), F (videos × d), in local
    /// order, after `backward`.
    public let dq = ActivationBuffer(), dq2 = ActivationBuffer(), dC = ActivationBuffer(), dF = ActivationBuffer()

    public init(model: MamFusionModel) {
        self.model = model
        d = model.configuration.hiddenSize
        mc = model.configuration.mapSize
        similarity = TiledSimilarity(features: d, clips: mc)
    }

    var loss: LossConfiguration { model.loss }

    /// The score matrices of all queries × this rank's videos (Q × V_r each), after `forward`.
    public var scores: TiledSimilarity { similarity }

    // MARK: - Forward

    /// The loss of the global batch (the same terms on every rank, up to the summation order of
    /// one SUM all-reduce), keeping what `backward` needs.
    /// - Parameters:
    ///   - q, q2: this rank's queries' two encoder passes (local order, Q_r × d).
    ///   - C, F: this rank's videos' clip (V_r·Mc × d) and frame (V_r × d) embeddings.
    public func forward(q: UnsafePointer<Float>, q2: UnsafePointer<Float>, C: UnsafePointer<Float>, F: UnsafePointer<Float>,
                 batch: GlobalBatch, assignment: RankAssignment, sampling: TripletSampling,
                 collectives: inout StepCollectives) throws -> LossTerms {
        try geometry.update(batch: batch, assignment: assignment, rank: collectives.world.rank)
        self.sampling = sampling
        let g = geometry, Q = g.queryCount, V = g.videoCount, Qr = g.ownQueryCount, Vr = g.ownVideoCount, d = self.d
        let n = mc + 1

        // 1. The query side, gathered: [q | K₂ | V₂] per query (without fusion: [q]).
        let fusion = model.fusion
        var ownParts = [q], globalParts = [queries.reserve(Q * d)]
        if let fusion {
            let K2 = ownKeys.reserve(Qr * d), V2 = ownValues.reserve(Qr * d)
            fusion.videoToText.projectKeysValues(memory: q2, rows: Qr, keys: K2, values: V2)
            ownParts += [UnsafePointer(K2), UnsafePointer(V2)]
            globalParts += [keys.reserve(Q * d), values.reserve(Q * d)]
        }
        let out = send.reserve(max(Qr, Vr) * 3 * d)
        RowOrder.pack(ownParts, rows: Qr, width: d, into: out)
        let gathered = receive.reserve(max(Q * 3 * d, V * 2 * d))
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

        // 3. Fusion: own videos over all queries; t2v keys/values of the fused videos, gathered;
        //    own queries over all videos. Then the query-diverse loss of own queries.
        if let fusion {
            fusion.videoToText.attend(target: F, targets: Vr, keys: keys.pointer, values: values.pointer, memories: Q)
            let KF = fusedKeys.reserve(Vr * d), VF = fusedValues.reserve(Vr * d)
            fusion.textToVideo.projectKeysValues(memory: fusion.videoToText.output.pointer, rows: Vr, keys: KF, values: VF)
            RowOrder.pack([UnsafePointer(KF), UnsafePointer(VF)], rows: Vr, width: d, into: out)
            try collectives.allgather("the fused-video gather", send: out, into: gathered, rowsPerRank: g.videosPerRank, width: 2 * d)
            let KFg = fusedKeysGlobal.reserve(V * d), VFg = fusedValuesGlobal.reserve(V * d)
            RowOrder.toGlobal(gathered, order: g.videoOrder, width: d, parts: [KFg, VFg])
            fusion.textToVideo.attend(target: q2, targets: Qr, keys: KFg, values: VFg, memories: V)
        }
        let xh = diverseHat.reserve(Qr * d)
        L2Normalize.forward(x: diverseInput(q2: q2), y: xh, norms: diverseNorm.reserve(Qr), rows: Qr, cols: d)
        var queryDiverse = 0.0
        if let local = g.localLabels {
            queryDiverse = QueryDiverseLoss.forward(normalized: xh, dimension: d, labels: local, alpha: loss.queryDiverseAlpha,
                                                    delta: loss.queryDiverseDelta, queryCount: Q)
        }

        // 4. Row statistics and the values of hinge decisions, exchanged.
        pool = TripletLoss.negativePool(videos: V, sampling: sampling)
        let x = exchange.reserve(6 * Q)
        fillExchange(x)
        try collectives.allreduce("the row maxima and triplet values", UnsafeMutableBufferPointer(start: x, count: 6 * Q), .max)
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
        NCELoss.accumulateRowExpSums(scores: similarity.clipUnnormalized.pointer, rows: Q, columns: Vr, shift: x, into: rowSums, work: w)
        NCELoss.accumulateRowExpSums(scores: similarity.frameUnnormalized.pointer, rows: Q, columns: Vr, shift: x + Q, into: rowSums + Q, work: w)
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
                let lse = Double(x[b * Q + i]) + log(s[b * Q + i])
                rowLogSumExp.pointer[b * Q + i] = Float(lse)
                rowTotal[b] += lse
            }
        }
        let (clipT2V, frameT2V) = decideTextToVideo(x)
        return LossTerms(
            clipNCE: Double(loss.clipNCEWeight) * ((rowTotal[0] - p[2]) / Double(Q) + p[0] / Double(V)),
            clipTriplet: clipT2V / Double(Q) + p[4] / Double(V),
            frameNCE: Double(loss.frameNCEWeight) * ((rowTotal[1] - p[3]) / Double(Q) + p[1] / Double(V)),
            frameTriplet: frameT2V / Double(Q) + p[5] / Double(V),
            queryDiverse: Double(loss.queryDiverseWeight) * p[6])
    }

    /// What the query-diverse loss normalises (own queries): the t2v fusion output, or q2 for a
    /// model without fusion (MODEL.md §10).
    private func diverseInput(q2: UnsafePointer<Float>) -> UnsafePointer<Float> {
        model.fusion.map { UnsafePointer($0.textToVideo.output.pointer) } ?? q2
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

    /// ∂L/∂(q, q2, C, F) of this rank's items into `dq`, `dq2`, `dC`, `dF` (overwritten), and
    /// this rank's partial fusion parameter gradients (accumulated); after `forward` on the same
    /// embeddings.
    public func backward(q2: UnsafePointer<Float>, F: UnsafePointer<Float>, collectives: inout StepCollectives) throws {
        let g = geometry, Q = g.queryCount, V = g.videoCount, Qr = g.ownQueryCount, Vr = g.ownVideoCount, d = self.d
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
        let gC = dC.reserve(max(Vr * mc * d, 1)), gF = dF.reserve(max(Vr * d, 1))
        for j in 0..<Vr {
            (gC + j * mc * d).update(from: dE + j * n * d, count: mc * d)
            (gF + j * d).update(from: dE + (j * n + mc) * d, count: d)
        }
        // Query-diverse loss → its input: dq2 directly, or through the t2v fusion of own queries.
        let fusion = model.fusion
        let dxh = dDiverseHat.zeroed(max(Qr * d, 1))
        if let local = g.localLabels {
            QueryDiverseLoss.backward(normalized: diverseHat.pointer, dimension: d, labels: local, alpha: loss.queryDiverseAlpha,
                                      delta: loss.queryDiverseDelta, upstream: loss.queryDiverseWeight, queryCount: Q, dNormalized: dxh)
        }
        let gq2 = dq2.zeroed(max(Qr * d, 1))
        let dDiverse = fusion == nil ? gq2 : dFusedQueries.zeroed(max(Qr * d, 1))
        L2Normalize.backward(x: diverseInput(q2: q2), norms: diverseNorm.pointer, dy: dxh, dx: dDiverse, rows: Qr, cols: d)
        let out = send.reserve(max(Q * 3 * d, V * 2 * d)), own = receive.reserve(max(Qr * 3 * d, Vr * 2 * d, 1))
        var queryGradients = [UnsafePointer(dQg)]
        if let fusion {
            let dKF = dFusedKeys.zeroed(V * d), dVF = dFusedValues.zeroed(V * d)
            fusion.textToVideo.backwardAttend(target: q2, keys: fusedKeysGlobal.pointer, values: fusedValuesGlobal.pointer,
                                              dy: dDiverse, dTarget: gq2, dKeys: dKF, dValues: dVF)
            // The fused videos' key/value gradients to their owners; their projection; v2t fusion.
            RowOrder.toRanked([UnsafePointer(dKF), UnsafePointer(dVF)], order: g.videoOrder, width: d, into: out)
            try collectives.reduceScatter("the fused-video gradient reduce-scatter", send: out, into: own, rowsPerRank: g.videosPerRank, width: 2 * d)
            let ownKF = dOwnKeys.reserve(max(Vr * d, 1)), ownVF = dOwnValues.reserve(max(Vr * d, 1))
            RowOrder.unpack(own, rows: Vr, width: d, into: [ownKF, ownVF])
            let dFused = dFusedVideos.zeroed(max(Vr * d, 1))
            fusion.textToVideo.backwardKeysValues(memory: fusion.videoToText.output.pointer, rows: Vr, dKeys: ownKF, dValues: ownVF, dMemory: dFused)
            let dK2 = dKeys.zeroed(Q * d), dV2 = dValues.zeroed(Q * d)
            fusion.videoToText.backwardAttend(target: F, keys: keys.pointer, values: values.pointer, dy: dFused, dTarget: gF, dKeys: dK2, dValues: dV2)
            queryGradients += [UnsafePointer(dK2), UnsafePointer(dV2)]
        }
        // The query side's gradients to their owners; v2t key/value projection of own queries.
        RowOrder.toRanked(queryGradients, order: g.queryOrder, width: d, into: out)
        try collectives.reduceScatter("the query gradient reduce-scatter", send: out, into: own, rowsPerRank: g.queriesPerRank,
                                      width: queryGradients.count * d)
        var ownGradients = [dq.reserve(max(Qr * d, 1))]
        if fusion != nil { ownGradients += [dOwnKeys.reserve(max(Qr * d, 1)), dOwnValues.reserve(max(Qr * d, 1))] }
        RowOrder.unpack(own, rows: Qr, width: d, into: ownGradients)
        if let fusion {
            fusion.videoToText.backwardKeysValues(memory: q2, rows: Qr, dKeys: ownGradients[1], dValues: ownGradients[2], dMemory: gq2)
        }
    }

    /// Bytes held by the head's buffers (score matrices, fusion probabilities excluded).
    public var bytes: Int {
        [send, receive, queries, keys, values, ownKeys, ownValues, embeddings, fusedKeys, fusedValues, fusedKeysGlobal,
         fusedValuesGlobal, diverseHat, diverseNorm, exchange, rowLogSumExp, columnStatistics, work, textToVideoHinge, videoToTextHinge,
         dScores, dQueries, dKeys, dValues, dEmbeddings, dDiverseHat, dFusedQueries, dFusedKeys, dFusedValues, dFusedVideos,
         dOwnKeys, dOwnValues, dq, dq2, dC, dF].reduce(0) { $0 + $1.bytes } + similarity.bytes + sums.bytes + records.bytes
    }
}
