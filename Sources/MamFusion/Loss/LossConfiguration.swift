/// The loss hyper-parameters of MODEL.md §4 and §7:
///
///     L = lf0·NCE(S_clip') + TRIP(S_clip) + lf1·NCE(S_frame') + TRIP(S_frame) + lf2·QDL(qf)
public struct LossConfiguration: Sendable, Equatable, Codable {
    /// lf0: weight of NCE(S_clip').
    public var clipNCEWeight: Float
    /// lf1: weight of NCE(S_frame').
    public var frameNCEWeight: Float
    /// lf2: weight of QDL.
    public var queryDiverseWeight: Float
    /// m of both triplet terms.
    public var margin: Float
    /// 0-based epoch from which the triplet terms use hard negatives.
    public var hardNegativeStartEpoch: Int
    /// t2v hard negatives are drawn from the top `hardPoolSize` (≥ 1).
    public var hardPoolSize: Int
    /// δ = neg_factor[0].
    public var queryDiverseDelta: Float
    /// α = neg_factor[1].
    public var queryDiverseAlpha: Float

    public init(clipNCEWeight: Float, frameNCEWeight: Float, queryDiverseWeight: Float, margin: Float,
                hardNegativeStartEpoch: Int, hardPoolSize: Int, queryDiverseDelta: Float,
                queryDiverseAlpha: Float) {
        self.clipNCEWeight = clipNCEWeight
        self.frameNCEWeight = frameNCEWeight
        self.queryDiverseWeight = queryDiverseWeight
        self.margin = margin
        self.hardNegativeStartEpoch = hardNegativeStartEpoch
        self.hardPoolSize = hardPoolSize
        self.queryDiverseDelta = queryDiverseDelta
        self.queryDiverseAlpha = queryDiverseAlpha
    }

    /// TVR and ActivityNet (MODEL.md §7).
    public static let tvr = LossConfiguration(clipNCEWeight: 0.027, frameNCEWeight: 0.045, queryDiverseWeight: 0.015,
                                          margin: 0.2, hardNegativeStartEpoch: 20, hardPoolSize: 20,
                                          queryDiverseDelta: 0.2, queryDiverseAlpha: 32)
    public static let activityNet = tvr
    /// Charades-STA (MODEL.md §7).
    public static let charades = LossConfiguration(clipNCEWeight: 0.008, frameNCEWeight: 0.01, queryDiverseWeight: 0.005,
                                               margin: 0.2, hardNegativeStartEpoch: 100, hardPoolSize: 20,
                                               queryDiverseDelta: 0.15, queryDiverseAlpha: 32)

    /// The values of a run configuration (its `loss_factor`, `margin`, `hard_*` and `neg_factor`).
    public init(_ c: RunConfiguration) {
        self.init(clipNCEWeight: Float(c.lossFactor[0]), frameNCEWeight: Float(c.lossFactor[1]), queryDiverseWeight: Float(c.lossFactor[2]),
                  margin: Float(c.margin), hardNegativeStartEpoch: c.hardNegativeStartEpoch, hardPoolSize: c.hardPoolSize,
                  queryDiverseDelta: Float(c.negativeFactor[0]), queryDiverseAlpha: Float(c.negativeFactor[1]))
    }

    /// The triplet sampling of global step `step` in 0-based epoch `epoch`.
    public func sampling(seed: UInt64, step: Int, epoch: Int) -> TripletSampling {
        TripletSampling(seed: seed, step: step, epoch: epoch, hardNegativeStartEpoch: hardNegativeStartEpoch, hardPoolSize: hardPoolSize)
    }

    /// Throws when a value would make the loss undefined.
    public func validate() throws(LossConfigurationError) {
        guard hardPoolSize >= 1 else { throw .invalidConfiguration("hard_pool_size must be ≥ 1, got \(hardPoolSize)") }
        guard hardNegativeStartEpoch >= 0 else {
            throw .invalidConfiguration("hard_negative_start_epoch must be ≥ 0, got \(hardNegativeStartEpoch)")
        }
        for (name, value) in [("margin", margin), ("loss_factor", clipNCEWeight), ("loss_factor", frameNCEWeight),
                              ("loss_factor", queryDiverseWeight), ("neg_factor", queryDiverseDelta),
                              ("neg_factor", queryDiverseAlpha)] where !value.isFinite {
            throw .invalidConfiguration("\(name) must be finite, got \(value)")
        }
    }
}

/// Why the loss cannot be set up.
public enum LossConfigurationError: Error, Equatable, CustomStringConvertible {
    case invalidConfiguration(String)

    public var description: String {
        switch self {
        case .invalidConfiguration(let why): return "loss configuration: \(why)"
        }
    }
}
