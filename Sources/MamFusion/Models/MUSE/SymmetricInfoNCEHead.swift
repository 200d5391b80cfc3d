import CKernels
import Foundation
import MPIKit
import TensorKit

/// The value of MUSE's loss over one global batch, and its two halves.
public struct SymmetricInfoNCETerms: Sendable, Equatable {
    /// mean_i −log softmax_j S[i, j] at j = i (each caption against every video).
    public var textToVideo: Double
    /// mean_j −log softmax_i S[i, j] at i = j (each video against every caption).
    public var videoToText: Double
    /// ½ (t2v + v2t): the loss (MUSE.md §3).
    public var total: Double { 0.5 * (textToVideo + videoToText) }
}

/// MUSE's loss, the symmetric InfoNCE of CLIP4Clip (`CrossEn` on S and Sᵀ), over the **global**
/// batch of B (caption, video) pairs, computed in shards across ranks (DISTRIBUTED.md §3, both
/// directions as the PRVR head's NCE):
///
///     S[i, j] = s · t̂_i · v_j         (s = 100, the clamped logit scale; t̂ unit captions, v unit videos)
///     L = ½ [ (1/B) Σ_i (LSE_j S[i, ·] − S[i, i]) + (1/B) Σ_j (LSE_i S[·, j] − S[j, j]) ]
///
/// Pairs are the samples: two pairs that share a video are two columns (and two rows), each the
/// other's negative. Rank r holds its pairs' videos v_j (its columns) and captions; the captions
/// travel:
/// 1. one all-gather of the captions (B·W floats), put in global order;
/// 2. the scores of all captions × its videos, one product per video (B × W by W), so a column's
///    bits depend only on the captions and that video — the same on any number of ranks;
/// 3. column (v2t) terms are local; row (t2v) log-sum-exps are rebuilt exactly from a MAX
///    all-reduce of the row maxima (B floats) and a SUM all-reduce of the rows' Σexp(S − max)
///    with the partial loss values (B + 2 doubles).
/// Backward: ∂S[i, j] = (1/2B)(softmax_row_i[j] + softmax_col_j[i] − 2·[i = j]) for its own
/// columns, ∂v_j = s·Σ_i ∂S[i, j]·t̂_i — local, since captions have no trained parameters and
/// need no gradient. Memory: B·W gathered captions and B·B_r scores.
public final class SymmetricInfoNCEHead {
    public let width: Int
    public let logitScale: Float
    let captions = ActivationBuffer(), gathered = ActivationBuffer()
    /// B_r × B: row j holds S[·, j] for own pair j.
    let scores = ActivationBuffer()
    let rowMaxima = ActivationBuffer(), columnLogSumExp = ActivationBuffer(), rowLogSumExp = ActivationBuffer()
    let sums = ReusableBuffer<Double>()
    /// ∂L/∂v of the own videos (B_r × W, local order) after `backward`.
    public let videoGradient = ActivationBuffer()
    private var saved: (positions: [Int], pairs: Int)?

    /// Bytes held by the head's buffers.
    public var bytes: Int {
        [captions, gathered, scores, rowMaxima, columnLogSumExp, rowLogSumExp, videoGradient].reduce(sums.bytes) { $0 + $1.bytes }
    }

    public init(width: Int, logitScale: Float = 100) {
        (self.width, self.logitScale) = (width, logitScale)
    }

    /// The loss of the global batch, keeping what `backward` needs.
    /// - Parameters:
    ///   - videos: this rank's video embeddings (B_r × W, unit rows, local order).
    ///   - captions: this rank's normalised caption embeddings (B_r × W, same order).
    ///   - assignment: for every rank, the global positions (0..<B) of its pairs in its local order.
    public func forward(videos: UnsafePointer<Float>, captions own: UnsafePointer<Float>, assignment: [[Int]],
                        collectives: inout StepCollectives) throws -> SymmetricInfoNCETerms {
        let w = width, b = assignment.reduce(0) { $0 + $1.count }, positions = assignment[collectives.world.rank], br = positions.count
        // 1. Captions in global order.
        let received = gathered.reserve(max(b * w, 1)), t = captions.reserve(max(b * w, 1))
        try collectives.allgather("the caption gather", send: own, into: received, rowsPerRank: assignment.map(\.count), width: w)
        var row = 0
        for rank in assignment {
            for global in rank { (t + global * w).update(from: received + row * w, count: w); row += 1 }
        }
        // 2. Scores, one video (column) at a time.
        let s = scores.reserve(max(br * b, 1))
        for j in 0..<br {
            Matmul.forward(transB: true, m: b, n: 1, k: w, alpha: logitScale, a: t, b: videos + j * w, c: s + j * b, ldc: 1)
        }
        // 3. Row maxima (MAX), then row Σexp and the partial terms (SUM, in Double).
        let m = rowMaxima.reserve(b)
        m.update(repeating: -.infinity, count: b)
        for j in 0..<br { for i in 0..<b { m[i] = max(m[i], s[j * b + i]) } }
        try collectives.allreduce("the row maxima", UnsafeMutableBufferPointer(start: m, count: b), .max)
        let sum = sums.reserve(b + 2)
        sum.update(repeating: 0, count: b + 2)
        let columns = columnLogSumExp.reserve(max(br, 1))
        var videoToText = 0.0, positives = 0.0
        for j in 0..<br {
            let column = s + j * b
            for i in 0..<b { sum[i] += Double(expf(column[i] - m[i])) }
            let top = mf_max(column, b)
            var total = 0.0
            for i in 0..<b { total += Double(expf(column[i] - top)) }
            columns[j] = top + Float(log(total))
            let positive = Double(column[positions[j]])
            videoToText += Double(columns[j]) - positive
            positives += positive
        }
        sum[b] = videoToText
        sum[b + 1] = positives
        try collectives.allreduce("the loss sums", UnsafeMutableBufferPointer(start: sum, count: b + 2), .sum)
        let rows = rowLogSumExp.reserve(b)
        var textToVideo = 0.0
        for i in 0..<b {
            let lse = Double(m[i]) + log(sum[i])
            rows[i] = Float(lse)
            textToVideo += lse
        }
        saved = (positions, b)
        return SymmetricInfoNCETerms(textToVideo: (textToVideo - sum[b + 1]) / Double(b), videoToText: sum[b] / Double(b))
    }

    /// ∂(scale·L)/∂v of the own videos into `videoGradient` (B_r × W, overwritten).
    public func backward(scale: Float = 1) {
        guard let (positions, b) = saved else { preconditionFailure("SymmetricInfoNCEHead.backward before forward") }
        let w = width, br = positions.count, s = scores.pointer, t = captions.pointer
        let rows = rowLogSumExp.pointer, columns = columnLogSumExp.pointer
        let dv = videoGradient.reserve(max(br * w, 1))
        let half = scale / Float(2 * b)
        for j in 0..<br {
            // ∂S in place of the scores: this column is not read again.
            let column = s + j * b
            for i in 0..<b { column[i] = half * (expf(column[i] - rows[i]) + expf(column[i] - columns[j])) }
            column[positions[j]] -= 2 * half
            Matmul.forward(m: 1, n: w, k: b, alpha: logitScale, a: column, b: t, c: dv + j * w)
        }
        saved = nil
    }
}
