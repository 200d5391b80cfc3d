/// The PRVR loss's weighted terms (MODEL.md §4) under their record names.
public enum PRVRLossTerms {
    /// lf0·NCE(S_clip'), TRIP(S_clip), lf1·NCE(S_frame'), TRIP(S_frame), lf2·QDL — in this order.
    public static let names = ["clip_nce", "clip_trip", "frame_nce", "frame_trip", "qdl"]

    public static func terms(clipNCE: Double, clipTriplet: Double, frameNCE: Double, frameTriplet: Double, queryDiverse: Double) -> LossTerms {
        LossTerms(zip(names, [clipNCE, clipTriplet, frameNCE, frameTriplet, queryDiverse]).map { LossTerms.Term($0, $1) })
    }
}
