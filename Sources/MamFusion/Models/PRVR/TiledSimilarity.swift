import CKernels
import TensorKit

/// The four score matrices of the training loss (MODEL.md §3) of **all** queries of a batch
/// against a block of videos (one rank's own videos, DISTRIBUTED.md §3), with their backward:
///
///     S_clip'[q,v]  = max_c q·C[v,c]                 S_frame'[q,v] = q·F[v]
///     S_clip[q,v]   = max_c q̂·ĉ[v,c]                 S_frame[q,v]  = q̂·f̂[v]
///
/// with x̂ = x / max(‖x‖, 1e-12) (`F.normalize`).
///
/// **Fixed tiles.** A product over a subset of rows or columns need not give the bits of the
/// full product (SHARDED-HEAD.md B.5; true of OpenBLAS, and a product's kernel depends on its
/// shape), so scores computed over whichever videos a rank happens to own would differ from one
/// world size to another, and a near-tie could resolve differently. Here every score comes from
/// the same product whatever the world size: a tile of `queryTile` consecutive queries in
/// *global* order against a **group** of `videoGroup` videos fixed by global video index (videos
/// 8g … 8g+7 of the batch), each video a block E_v = [C_v (Mc rows); F_v (1 row)] in its slot.
/// A rank that owns only some videos of a group fills the other slots with zeros: the product
/// has the same shape and its videos sit in the same columns, so their scores are the same bits
/// (a product's column never depends on another column's values). Groups make each product
/// 8× wider than one video's block (the 33-column products of one video ran at half the
/// engine's rate; at 4,096 videos the head took half the step).
///
/// **One product for both normalisations.** q̂·ĉ = (q·c)·(1/‖q‖)·(1/‖c‖), so the normalised scores
/// are the unnormalised products scaled by inverse norms (SHARDED-HEAD.md B.7): one GEMM per
/// tile instead of two, at the cost of last-bit differences from normalise-then-multiply. The
/// maxima over the Mc clips are taken while the tile is in cache and their arg-max kept (ties:
/// the first clip), so Q×V×Mc is never stored.
///
/// Backward: with G the gradient of one tile's products (dS' at the arg-max clip and the frame
/// column, dS·(1/‖q‖)(1/‖c‖) at the normalised arg-max), dq += G·E_v and dE_v += Gᵀ·q_tile (two
/// GEMMs), plus the normalisation terms −(Σ dS·S)/‖q‖²·q and −(Σ dS·S)/‖c‖²·c (from
/// ∂(q̂·ĉ)/∂q = ĉ/‖q‖ − (q̂·ĉ) q/‖q‖²; absent where the norm is clamped).
///
/// Shapes: q is Q×d (global order); E is Vb × (Mc+1) × d (video-major blocks, local order) with
/// the videos' global indices alongside; every score matrix is Q×Vb row-major (column j = the
/// block's video j).
public final class TiledSimilarity {
    /// Queries per tile: fixed, so that tiles never depend on the world size.
    public static let queryTile = 256
    /// Videos per group (consecutive global indices): fixed, for the same reason.
    public static let videoGroup = 8
    static let epsilon: Float = 1e-12

    public let features: Int
    public let clips: Int
    public let clip = ActivationBuffer(), clipUnnormalized = ActivationBuffer()
    public let frame = ActivationBuffer(), frameUnnormalized = ActivationBuffer()
    /// The clip (0 ..< Mc) that gave each score of `clip` and of `clipUnnormalized` (Q×Vb).
    public let argmaxClip = IndexBuffer(), argmaxClipUnnormalized = IndexBuffer()
    let queryInverse = ActivationBuffer(), queryCorrection = ActivationBuffer()
    let videoInverse = ActivationBuffer(), videoCorrection = ActivationBuffer()
    let tile = ActivationBuffer(), rowSums = ActivationBuffer(), columnSums = ActivationBuffer()
    /// The embeddings in group layout (groups × videoGroup × (Mc+1) × d, empty slots zero), and
    /// the gradient in the same layout.
    let grouped = ActivationBuffer(), dGrouped = ActivationBuffer()
    /// Per group: its first entry in `members`; per member (group-major): local video and slot.
    private var groupStart: [Int32] = [], memberVideo: [Int32] = [], memberSlot: [Int32] = [], localOfGlobal: [Int32] = []
    public private(set) var queries = 0, videos = 0

    public init(features: Int, clips: Int) {
        self.features = features
        self.clips = clips
    }

    /// Rows per video block in E: the Mc clips and the frame vector.
    public var blockRows: Int { clips + 1 }

    /// Computes the four Q×Vb score matrices (and keeps the arg-max clips and inverse norms).
    /// `globalVideos[j]` is the batch-wide index of local video j (it fixes the video's group and
    /// slot; distinct indices).
    public func forward(q: UnsafePointer<Float>, queries Q: Int, embeddings E: UnsafePointer<Float>, videos Vb: Int,
                        globalVideos: UnsafePointer<Int32>) {
        queries = Q; videos = Vb
        let d = features, mc = clips, n = blockRows, G = Self.videoGroup
        let qi = queryInverse.reserve(Q), qk = queryCorrection.reserve(Q)
        Self.inverseNorms(q, rows: Q, cols: d, inverse: qi, correction: qk)
        let ei = videoInverse.reserve(Vb * n), ek = videoCorrection.reserve(Vb * n)
        Self.inverseNorms(E, rows: Vb * n, cols: d, inverse: ei, correction: ek)
        let groups = arrangeGroups(E, videos: Vb, globalVideos: globalVideos)
        let sc = clip.reserve(Q * Vb), su = clipUnnormalized.reserve(Q * Vb)
        let sf = frame.reserve(Q * Vb), sfu = frameUnnormalized.reserve(Q * Vb)
        let ac = argmaxClip.reserve(Q * Vb), au = argmaxClipUnnormalized.reserve(Q * Vb)
        let T = Self.queryTile, width = G * n
        let out = tile.reserve(T * width)
        var t = 0
        while t < Q {
            let rows = min(T, Q - t)
            for g in 0..<groups {
                MatrixEngine.gemm(transB: true, m: rows, n: width, k: d, a: q + t * d, lda: d, b: grouped.pointer + g * width * d, ldb: d,
                                  c: out, ldc: width)
                for member in Int(groupStart[g])..<Int(groupStart[g + 1]) {
                    let j = Int(memberVideo[member]), column = Int(memberSlot[member]) * n, inverse = ei + j * n
                    for i in 0..<rows {
                        let row = out + i * width + column, at = (t + i) * Vb + j, iq = qi[t + i]
                        var bestU = row[0], argU: Int32 = 0
                        var best = row[0] * iq * inverse[0], arg: Int32 = 0
                        for c in 1..<mc {
                            let v = row[c]
                            if v > bestU { bestU = v; argU = Int32(c) }
                            let s = v * iq * inverse[c]
                            if s > best { best = s; arg = Int32(c) }
                        }
                        su[at] = bestU; au[at] = argU
                        sc[at] = best; ac[at] = arg
                        sfu[at] = row[mc]
                        sf[at] = row[mc] * iq * inverse[mc]
                    }
                }
            }
            t += rows
        }
    }

    /// Sorts the local videos into their groups (by global index) and copies E into the group
    /// layout, empty slots zero. Returns the number of groups that hold a local video.
    private func arrangeGroups(_ E: UnsafePointer<Float>, videos Vb: Int, globalVideos: UnsafePointer<Int32>) -> Int {
        let n = blockRows, d = features, G = Self.videoGroup
        // Local video of each global index (−1: another rank's), then groups in global order.
        var last = -1
        for j in 0..<Vb { last = max(last, Int(globalVideos[j])) }
        localOfGlobal.removeAll(keepingCapacity: true)
        localOfGlobal.append(contentsOf: repeatElement(-1, count: (last / G + 1) * G))
        for j in 0..<Vb { localOfGlobal[Int(globalVideos[j])] = Int32(j) }
        groupStart.removeAll(keepingCapacity: true)
        memberVideo.removeAll(keepingCapacity: true)
        memberSlot.removeAll(keepingCapacity: true)
        for first in stride(from: 0, to: localOfGlobal.count, by: G) {
            let start = memberVideo.count
            for slot in 0..<G where localOfGlobal[first + slot] >= 0 {
                memberVideo.append(localOfGlobal[first + slot])
                memberSlot.append(Int32(slot))
            }
            if memberVideo.count > start { groupStart.append(Int32(start)) }
        }
        groupStart.append(Int32(memberVideo.count))
        let groups = groupStart.count - 1, block = n * d, width = Self.videoGroup * block
        let layout = grouped.zeroed(max(groups * width, 1))
        for g in 0..<groups {
            for member in Int(groupStart[g])..<Int(groupStart[g + 1]) {
                (layout + g * width + Int(memberSlot[member]) * block).update(from: E + Int(memberVideo[member]) * block, count: block)
            }
        }
        return groups
    }

    /// Accumulates dq (Q×d) and dE (Vb × (Mc+1) × d) from the gradients of the four score
    /// matrices (each Q×Vb), after `forward` with the same q and E.
    public func backward(q: UnsafePointer<Float>, embeddings E: UnsafePointer<Float>,
                         dClip: UnsafePointer<Float>, dClipUnnormalized: UnsafePointer<Float>,
                         dFrame: UnsafePointer<Float>, dFrameUnnormalized: UnsafePointer<Float>,
                         dq: UnsafeMutablePointer<Float>, dE: UnsafeMutablePointer<Float>) {
        let Q = queries, Vb = videos, d = features, mc = clips, n = blockRows
        let qi = queryInverse.pointer, qk = queryCorrection.pointer, ei = videoInverse.pointer, ek = videoCorrection.pointer
        let sc = clip.pointer, sf = frame.pointer, ac = argmaxClip.pointer, au = argmaxClipUnnormalized.pointer
        let rowSum = rowSums.zeroed(Q), columnSum = columnSums.zeroed(Vb * n)
        let T = Self.queryTile, G = Self.videoGroup, width = G * n, groups = groupStart.count - 1
        let g = tile.reserve(T * width)
        let dLayout = dGrouped.zeroed(max(groups * width * d, 1))
        var t = 0
        while t < Q {
            let rows = min(T, Q - t)
            for group in 0..<groups {
                g.update(repeating: 0, count: rows * width)
                var any = false
                for member in Int(groupStart[group])..<Int(groupStart[group + 1]) {
                    let j = Int(memberVideo[member]), column = Int(memberSlot[member]) * n
                    let inverse = ei + j * n, sums = columnSum + j * n
                    for i in 0..<rows {
                        let at = (t + i) * Vb + j, iq = qi[t + i], row = g + i * width + column
                        let gu = dClipUnnormalized[at], gc = dClip[at], fu = dFrameUnnormalized[at], gf = dFrame[at]
                        if gu == 0 && gc == 0 && fu == 0 && gf == 0 { continue }
                        any = true
                        row[Int(au[at])] += gu
                        row[mc] += fu
                        if gc != 0 {
                            let c = Int(ac[at])
                            row[c] += gc * iq * inverse[c]
                            let s = gc * sc[at]
                            rowSum[t + i] += s
                            sums[c] += s
                        }
                        if gf != 0 {
                            row[mc] += gf * iq * inverse[mc]
                            let s = gf * sf[at]
                            rowSum[t + i] += s
                            sums[mc] += s
                        }
                    }
                }
                guard any else { continue }
                let block = grouped.pointer + group * width * d
                MatrixEngine.gemm(m: rows, n: d, k: width, a: g, lda: width, b: block, ldb: d, beta: 1, c: dq + t * d, ldc: d)
                MatrixEngine.gemm(transA: true, m: width, n: d, k: rows, a: g, lda: width, b: q + t * d, ldb: d, beta: 1,
                                  c: dLayout + group * width * d, ldc: d)
            }
            t += rows
        }
        // Back from the group layout to the local videos.
        for group in 0..<groups {
            for member in Int(groupStart[group])..<Int(groupStart[group + 1]) {
                let j = Int(memberVideo[member]), slot = Int(memberSlot[member])
                Vector.axpy(alpha: 1, x: dLayout + (group * G + slot) * n * d, y: dE + j * n * d, count: n * d)
            }
        }
        // Normalisation terms: −(Σ dS·S)/‖x‖² · x for every row whose norm was not clamped.
        for r in 0..<Q where rowSum[r] != 0 {
            Vector.axpy(alpha: -rowSum[r] * qk[r], x: q + r * d, y: dq + r * d, count: d)
        }
        for r in 0..<(Vb * n) where columnSum[r] != 0 {
            Vector.axpy(alpha: -columnSum[r] * ek[r], x: E + r * d, y: dE + r * d, count: d)
        }
    }

    /// inverse[r] = 1/max(‖x_r‖, eps); correction[r] = 1/‖x_r‖² where ‖x_r‖ ≥ eps, else 0 (a
    /// clamped norm is a constant: no normalisation term in the gradient).
    static func inverseNorms(_ x: UnsafePointer<Float>, rows: Int, cols: Int,
                             inverse: UnsafeMutablePointer<Float>, correction: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let norm = mf_dot(x + r * cols, x + r * cols, cols).squareRoot()
            let i = 1 / max(norm, epsilon)
            inverse[r] = i
            correction[r] = norm >= epsilon ? i * i : 0
        }
    }

    /// Bytes of the score matrices, arg-maxes and workspaces (for memory reports).
    public var bytes: Int {
        [clip, clipUnnormalized, frame, frameUnnormalized, queryInverse, queryCorrection, videoInverse, videoCorrection,
         tile, rowSums, columnSums, grouped, dGrouped].reduce(0) { $0 + $1.bytes } + argmaxClip.bytes + argmaxClipUnnormalized.bytes
    }
}
