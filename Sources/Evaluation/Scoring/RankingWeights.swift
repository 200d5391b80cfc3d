/// The ranking score of MODEL.md §3: S = w_clip · S_clip + w_frame · S_frame, with
/// S_clip[q,v] = max over clips of q̂·ĉ[v,c] and S_frame[q,v] = q̂·f̂[v]
/// (`clip_scale_w` = 0.7, `frame_scale_w` = 0.3 in the reference configurations).
public struct RankingWeights: Sendable, Equatable {
    public var clip: Float
    public var frame: Float

    public init(clip: Float, frame: Float) {
        self.clip = clip
        self.frame = frame
    }

    /// 0.7 / 0.3, the reference weights.
    public static let reference = RankingWeights(clip: 0.7, frame: 0.3)

    /// The ranking score from the two similarities, rounded exactly as the block loop rounds it:
    /// two products and one sum in Float, never fused into an FMA (Swift does not contract), so a
    /// test recomputing scores with this function gets the evaluator's bits.
    @inlinable
    public func combine(clip clipScore: Float, frame frameScore: Float) -> Float {
        clip * clipScore + frame * frameScore
    }
}
