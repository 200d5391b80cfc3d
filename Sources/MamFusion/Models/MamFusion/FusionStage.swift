import MPIKit
import TensorKit

extension ParameterGroup {
    /// MamFusion's two fusion modules: final when the loss head's backward ends.
    public static let fusion: ParameterGroup = "fusion"
}

/// MamFusion's fusion modules (MODEL.md §2) as the PRVR head's query-diverse stage, spread over
/// ranks like every other part of the head (DISTRIBUTED.md §3, SHARDED-HEAD.md B.2–B.3):
///
/// - forward: each rank projects the `v2t_fusion` keys/values K₂ = W_k q2 + b_k, V₂ of its own
///   queries, which ride the head's query gather ([q | K₂ | V₂]); then v2t fusion of its own
///   videos over all Q queries, F̃ = F ⊙ MHA(F, K₂, V₂); the `t2v_fusion` keys/values of those
///   fused videos, all-gathered (2d per video); t2v fusion of its own queries over all V videos,
///   x = q2 ⊙ MHA(q2, K_F̃, V_F̃) — the query-diverse loss's input;
/// - backward mirrors it: t2v backward gives dq2 and partial gradients of all fused videos'
///   keys/values, reduce-scattered to their owners ([dK_F̃ | dV_F̃]); their projection's backward;
///   v2t backward gives dF and partial gradients of all queries' K₂, V₂, which ride the head's
///   query reduce-scatter; the owners finish the K₂, V₂ projection (dq2).
/// Every fusion parameter gradient is a per-rank partial that the gradient all-reduce sums: no
/// rank special case.
public final class FusionStage: QueryDiverseStage {
    public let videoToText: FusionAttention
    public let textToVideo: FusionAttention
    let d: Int
    /// K₂, V₂ of own queries; of all queries (global order).
    let ownKeys = ActivationBuffer(), ownValues = ActivationBuffer(), keys = ActivationBuffer(), values = ActivationBuffer()
    /// K_F̃, V_F̃ of own fused videos; of all videos (global order).
    let fusedKeys = ActivationBuffer(), fusedValues = ActivationBuffer()
    let fusedKeysGlobal = ActivationBuffer(), fusedValuesGlobal = ActivationBuffer()
    let dFusedQueries = ActivationBuffer(), dKeys = ActivationBuffer(), dValues = ActivationBuffer()
    let dFusedKeys = ActivationBuffer(), dFusedValues = ActivationBuffer(), dFusedVideos = ActivationBuffer()
    let dOwnKeys = ActivationBuffer(), dOwnValues = ActivationBuffer()

    public init(videoToText: FusionAttention, textToVideo: FusionAttention) {
        self.videoToText = videoToText
        self.textToVideo = textToVideo
        d = videoToText.features
    }

    public var parameterGroups: [ParameterGroup] { [.fusion] }

    public func gatherParts(q2: UnsafePointer<Float>, rows: Int) -> [UnsafePointer<Float>] {
        let K2 = ownKeys.reserve(rows * d), V2 = ownValues.reserve(rows * d)
        videoToText.projectKeysValues(memory: q2, rows: rows, keys: K2, values: V2)
        return [UnsafePointer(K2), UnsafePointer(V2)]
    }

    public func gatherDestinations(queries: Int) -> [UnsafeMutablePointer<Float>] {
        [keys.reserve(queries * d), values.reserve(queries * d)]
    }

    public func forward(q2: UnsafePointer<Float>, F: UnsafePointer<Float>, geometry g: HeadGeometry, send: ActivationBuffer,
                        receive: ActivationBuffer, collectives: inout StepCollectives) throws -> UnsafePointer<Float> {
        let Q = g.queryCount, V = g.videoCount, Qr = g.ownQueryCount, Vr = g.ownVideoCount
        // Own videos over all queries; t2v keys/values of the fused videos, gathered; own
        // queries over all videos.
        videoToText.attend(target: F, targets: Vr, keys: keys.pointer, values: values.pointer, memories: Q)
        let KF = fusedKeys.reserve(Vr * d), VF = fusedValues.reserve(Vr * d)
        textToVideo.projectKeysValues(memory: videoToText.output.pointer, rows: Vr, keys: KF, values: VF)
        let out = send.reserve(max(Vr * 2 * d, 1))
        RowOrder.pack([UnsafePointer(KF), UnsafePointer(VF)], rows: Vr, width: d, into: out)
        let gathered = receive.reserve(max(V * 2 * d, 1))
        try collectives.allgather("the fused-video gather", send: out, into: gathered, rowsPerRank: g.videosPerRank, width: 2 * d)
        let KFg = fusedKeysGlobal.reserve(V * d), VFg = fusedValuesGlobal.reserve(V * d)
        RowOrder.toGlobal(gathered, order: g.videoOrder, width: d, parts: [KFg, VFg])
        textToVideo.attend(target: q2, targets: Qr, keys: KFg, values: VFg, memories: V)
        return UnsafePointer(textToVideo.output.pointer)
    }

    public func inputGradient(rows: Int, dq2: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<Float> {
        dFusedQueries.zeroed(max(rows * d, 1))
    }

    public func backward(dInput: UnsafePointer<Float>, q2: UnsafePointer<Float>, F: UnsafePointer<Float>, dq2: UnsafeMutablePointer<Float>,
                         dF: UnsafeMutablePointer<Float>, geometry g: HeadGeometry, send: ActivationBuffer, receive: ActivationBuffer,
                         collectives: inout StepCollectives) throws -> [UnsafePointer<Float>] {
        let Q = g.queryCount, V = g.videoCount, Vr = g.ownVideoCount
        let dKF = dFusedKeys.zeroed(V * d), dVF = dFusedValues.zeroed(V * d)
        textToVideo.backwardAttend(target: q2, keys: fusedKeysGlobal.pointer, values: fusedValuesGlobal.pointer,
                                   dy: dInput, dTarget: dq2, dKeys: dKF, dValues: dVF)
        // The fused videos' key/value gradients to their owners; their projection; v2t fusion.
        let out = send.reserve(max(V * 2 * d, 1)), own = receive.reserve(max(Vr * 2 * d, 1))
        RowOrder.toRanked([UnsafePointer(dKF), UnsafePointer(dVF)], order: g.videoOrder, width: d, into: out)
        try collectives.reduceScatter("the fused-video gradient reduce-scatter", send: out, into: own, rowsPerRank: g.videosPerRank, width: 2 * d)
        let ownKF = dOwnKeys.reserve(max(Vr * d, 1)), ownVF = dOwnValues.reserve(max(Vr * d, 1))
        RowOrder.unpack(own, rows: Vr, width: d, into: [ownKF, ownVF])
        let dFused = dFusedVideos.zeroed(max(Vr * d, 1))
        textToVideo.backwardKeysValues(memory: videoToText.output.pointer, rows: Vr, dKeys: ownKF, dValues: ownVF, dMemory: dFused)
        let dK2 = dKeys.zeroed(Q * d), dV2 = dValues.zeroed(Q * d)
        videoToText.backwardAttend(target: F, keys: keys.pointer, values: values.pointer, dy: dFused, dTarget: dF, dKeys: dK2, dValues: dV2)
        return [UnsafePointer(dK2), UnsafePointer(dV2)]
    }

    public func scatterDestinations(rows: Int) -> [UnsafeMutablePointer<Float>] {
        [dOwnKeys.reserve(max(rows * d, 1)), dOwnValues.reserve(max(rows * d, 1))]
    }

    /// The v2t key/value projection of own queries, from their summed K₂, V₂ gradients.
    public func finishBackward(q2: UnsafePointer<Float>, rows: Int, dq2: UnsafeMutablePointer<Float>) {
        videoToText.backwardKeysValues(memory: q2, rows: rows, dKeys: dOwnKeys.pointer, dValues: dOwnValues.pointer, dMemory: dq2)
    }

    public var bytes: Int {
        [ownKeys, ownValues, keys, values, fusedKeys, fusedValues, fusedKeysGlobal, fusedValuesGlobal, dFusedQueries, dKeys, dValues,
         dFusedKeys, dFusedValues, dFusedVideos, dOwnKeys, dOwnValues].reduce(0) { $0 + $1.bytes }
    }
}
