/// The weighted terms of one batch's loss (MODEL.md §4), for logging; `total` is their sum.
/// Each value already carries its weight: `clipNCE` = lf0·NCE(S_clip'), `frameNCE` =
/// lf1·NCE(S_frame'), `queryDiverse` = lf2·QDL; the triplet terms have weight 1.
public struct LossTerms: Sendable, Equatable, Codable {
    public var clipNCE: Double
    public var clipTriplet: Double
    public var frameNCE: Double
    public var frameTriplet: Double
    public var queryDiverse: Double

    public init(clipNCE: Double = 0, clipTriplet: Double = 0, frameNCE: Double = 0, frameTriplet: Double = 0,
                queryDiverse: Double = 0) {
        self.clipNCE = clipNCE
        self.clipTriplet = clipTriplet
        self.frameNCE = frameNCE
        self.frameTriplet = frameTriplet
        self.queryDiverse = queryDiverse
    }

    /// L = the sum of the weighted terms.
    public var total: Double { clipNCE + clipTriplet + frameNCE + frameTriplet + queryDiverse }

    /// (name, value) pairs in the order of MODEL.md §4, for log lines.
    public var named: [(name: String, value: Double)] {
        [("clip_nce", clipNCE), ("clip_trip", clipTriplet), ("frame_nce", frameNCE),
         ("frame_trip", frameTriplet), ("qdl", queryDiverse)]
    }
}
