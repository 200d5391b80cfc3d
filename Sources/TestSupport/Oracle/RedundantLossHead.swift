import MamFusion
import TensorKit

/// **Test oracle**: the loss head as training computed it before it was sharded across ranks —
/// everything after the encoders (MODEL.md §2 fusion, §3, §4) over a whole (global) batch, in
/// one process: the whole similarity matrices (one GEMM over all Q×V·Mc products), the two fusion
/// modules and the loss, forward and backward. The sharded head must give the same loss and
/// gradients on the same embeddings. Without fusion modules (GMMFormer, MODEL.md §10) the
/// query-diverse loss takes the normalised q2 directly.
///
/// Inputs (global batch order; queries flattened in video order): q and q2 (Q×d, the two query
/// encoder passes), C (V·Mc×d) and F (V×d). After `backward`, `dq`, `dq2`, `dC`, `dF` hold ∂L/∂
/// of each input, and the fusion modules' parameter gradients have been accumulated into
/// `gradients`.
public final class RedundantLossHead {
    public let features: Int
    public let clips: Int
    public let similarity: SimilarityScores
    /// The fusion modules `v2t_fusion`, `t2v_fusion` (nil without them).
    public let fusion: (videoToText: OneProcessFusion, textToVideo: OneProcessFusion)?
    public let loss: SimilarityLoss
    let diverseHat = ActivationBuffer(), diverseNorm = ActivationBuffer(), dDiverseHat = ActivationBuffer(), dFused = ActivationBuffer()
    let dScores = ActivationBuffer(), dFusedVideos = ActivationBuffer()
    public let dq = ActivationBuffer(), dq2 = ActivationBuffer(), dC = ActivationBuffer(), dF = ActivationBuffer()

    /// - Parameter fused: whether the model has the fusion modules (their parameter gradients are
    ///   accumulated into `gradients`).
    public init(configuration c: RunConfiguration, fused: Bool, parameters: ParameterSet, gradients: ParameterSet) {
        features = c.hiddenSize
        clips = c.mapSize
        similarity = SimilarityScores(features: c.hiddenSize, clips: c.mapSize)
        fusion = fused ? (OneProcessFusion(FusionAttention("v2t_fusion", features: c.hiddenSize, heads: c.heads, parameters: parameters, gradients: gradients)),
                          OneProcessFusion(FusionAttention("t2v_fusion", features: c.hiddenSize, heads: c.heads, parameters: parameters, gradients: gradients)))
            : nil
        loss = SimilarityLoss(configuration: LossConfiguration(c))
    }

    private var lastResult: SimilarityLoss.Result?
    private func lossInputs() -> SimilarityLoss.Inputs {
        SimilarityLoss.Inputs(clip: similarity.clip.pointer, clipUnnormalized: similarity.clipUnnormalized.pointer,
                              frame: similarity.frame.pointer, frameUnnormalized: similarity.frameUnnormalized.pointer,
                              fusedQueries: diverseHat.pointer, fusedDimension: features)
    }

    /// The loss over the global batch (keeps what `backward` needs); returns the weighted terms.
    public func forward(q: UnsafePointer<Float>, q2: UnsafePointer<Float>, clipEmbeddings C: UnsafePointer<Float>,
                        frameEmbeddings F: UnsafePointer<Float>, labels: BatchLabels, sampling: TripletSampling) -> LossTerms {
        let Q = labels.queryCount, V = labels.videoCount, d = features
        similarity.forward(q: q, queries: Q, clipEmbeddings: C, frameEmbeddings: F, videos: V)
        // Fusion: F̃ = v2t(F, q2) (the reference's 4× tiling is exact to drop, see FusionAttention),
        // qf = t2v(q2, F̃), x̂ = normalize(qf) feeds only the query-diverse loss; without fusion,
        // x̂ = normalize(q2).
        var diverse = q2
        if let fusion {
            fusion.videoToText.forward(target: F, targets: V, memory: q2, memories: Q)
            fusion.textToVideo.forward(target: q2, targets: Q, memory: fusion.videoToText.output.pointer, memories: V)
            diverse = UnsafePointer(fusion.textToVideo.output.pointer)
        }
        L2Normalize.forward(x: diverse, y: diverseHat.reserve(Q * d), norms: diverseNorm.reserve(Q), rows: Q, cols: d)
        let result = loss.forward(lossInputs(), labels: labels, sampling: sampling)
        lastResult = result
        return result.terms
    }

    /// ∂L/∂(q, q2, C, F) into `dq`, `dq2`, `dC`, `dF` (overwritten) after `forward` with the
    /// same inputs; fusion parameter gradients are accumulated.
    public func backward(q: UnsafePointer<Float>, q2: UnsafePointer<Float>, clipEmbeddings C: UnsafePointer<Float>,
                         frameEmbeddings F: UnsafePointer<Float>, labels: BatchLabels) {
        guard let result = lastResult else { preconditionFailure("RedundantLossHead.backward before forward") }
        let Q = labels.queryCount, V = labels.videoCount, d = features
        let g = dScores.zeroed(4 * Q * V)
        let dxh = dDiverseHat.zeroed(Q * d)
        loss.backward(lossInputs(), labels: labels, result: result,
                      into: .init(clip: g, clipUnnormalized: g + Q * V, frame: g + 2 * Q * V, frameUnnormalized: g + 3 * Q * V,
                                  fusedQueries: dxh))
        let gq = dq.zeroed(Q * d), gq2 = dq2.zeroed(Q * d), gC = dC.zeroed(V * clips * d), gF = dF.zeroed(V * d)
        similarity.backward(q: q, clipEmbeddings: C, frameEmbeddings: F, dClip: g, dClipUnnormalized: g + Q * V,
                            dFrame: g + 2 * Q * V, dFrameUnnormalized: g + 3 * Q * V, dq: gq, dC: gC, dF: gF)
        guard let fusion else {
            L2Normalize.backward(x: q2, norms: diverseNorm.pointer, dy: dxh, dx: gq2, rows: Q, cols: d)
            return
        }
        let dqf = dFused.zeroed(Q * d)
        L2Normalize.backward(x: fusion.textToVideo.output.pointer, norms: diverseNorm.pointer, dy: dxh, dx: dqf, rows: Q, cols: d)
        let dFt = dFusedVideos.zeroed(V * d)
        fusion.textToVideo.backward(target: q2, memory: fusion.videoToText.output.pointer, dy: dqf, dTarget: gq2, dMemory: dFt)
        fusion.videoToText.backward(target: F, memory: q2, dy: dFt, dTarget: gF, dMemory: gq2)
    }
}
