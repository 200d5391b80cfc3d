/// The sizes that define one model configuration (MODEL.md §1–2, §7). Every layer takes its
/// shapes from here, so any configuration works, not only TVR's.
public struct ModelDimensions: Sendable, Equatable, Codable {
    /// d: hidden size (384 in every reference configuration).
    public var hidden: Int
    /// h: attention heads (d must be divisible by h).
    public var heads: Int
    /// Dq: query token feature size.
    public var queryFeature: Int
    /// Dv: visual feature size.
    public var visualFeature: Int
    /// Maximum query tokens (positions of `query_pos_embed`).
    public var maxDescriptionLength: Int
    /// Maximum frames (positions of `clip_pos_embed` / `frame_pos_embed`).
    public var maxContextLength: Int
    /// Mc: clips per video (map_size).
    public var mapSize: Int

    /// Mamba-1 unit sizes (fixed by the reference: d_state 16, d_conv 4, expand 2).
    public var mambaState: Int = 16
    public var mambaConvolution: Int = 4
    public var mambaExpand: Int = 2

    public init(hidden: Int = 384, heads: Int = 8, queryFeature: Int = 768, visualFeature: Int = 3072,
                maxDescriptionLength: Int = 30, maxContextLength: Int = 512, mapSize: Int = 32) {
        self.hidden = hidden
        self.heads = heads
        self.queryFeature = queryFeature
        self.visualFeature = visualFeature
        self.maxDescriptionLength = maxDescriptionLength
        self.maxContextLength = maxContextLength
        self.mapSize = mapSize
    }

    /// d_inner = expand · d.
    public var mambaInner: Int { mambaExpand * hidden }
    /// dt_rank = ceil(d / 16).
    public var mambaDtRank: Int { (hidden + 15) / 16 }
    /// dh = d / h.
    public var headSize: Int { hidden / heads }
}

extension ModelDimensions {
    /// The largest model sizes accepted (README, "Input limits"). Each bounds one configuration
    /// key before any size is computed from it, so that no tensor size or offset computed from
    /// these dimensions can overflow (the largest tensor, d × Dv, is at most 2^13 · 2^20
    /// floats); the whole model is then bounded by `parameters`.
    public enum Limits {
        /// hidden_size d (and n_heads): 8192 (reference: 384).
        public static let hidden = 1 << 13
        /// q_feat_size Dq and visual_feat_dim Dv: 2^20 (reference: 768–3072), as for data files.
        public static let featureSize = 1 << 20
        /// max_desc_l: 4096 query tokens (reference: 30).
        public static let descriptionLength = 1 << 12
        /// max_ctx_l: 16,384 frames (reference: 512; attention is T × T per video).
        public static let contextLength = 1 << 14
        /// map_size: 4096 clips (reference: 32).
        public static let mapSize = 1 << 12
        /// Parameters of the whole model: 2^30 (4 GiB of float32 per copy — parameters,
        /// gradients and two optimiser moments are four copies). TVR has 18,372,480.
        public static let parameters = 1 << 30
    }

    /// The first problem with these sizes, as (configuration key, problem), or nil: each size in
    /// its range (`Limits`), heads dividing d, and the parameter count of the model's tensors
    /// (`specs`, asked for only once the sizes are in range) — summed with overflow-reporting
    /// arithmetic — at most `Limits.parameters`.
    public func problem(specs: (ModelDimensions) -> [ParameterSpec]) -> (key: String, problem: String)? {
        let ranges: [(String, Int, Int)] = [("hidden_size", hidden, Limits.hidden), ("n_heads", heads, Limits.hidden),
                                            ("q_feat_size", queryFeature, Limits.featureSize),
                                            ("visual_feat_dim", visualFeature, Limits.featureSize),
                                            ("max_desc_l", maxDescriptionLength, Limits.descriptionLength),
                                            ("max_ctx_l", maxContextLength, Limits.contextLength), ("map_size", mapSize, Limits.mapSize)]
        for (key, value, maximum) in ranges where !(1...maximum).contains(value) {
            return (key, "must be in 1…\(maximum), got \(value)")
        }
        guard hidden % heads == 0 else { return ("n_heads", "must divide hidden_size (\(hidden)), got \(heads)") }
        // Within the ranges above every tensor's element count fits easily in an Int; the sum
        // is still checked step by step.
        var total = 0
        for spec in specs(self) {
            var count = 1
            for extent in spec.shape {
                let (product, overflow) = count.multipliedReportingOverflow(by: extent)
                guard !overflow else { return ("hidden_size", "tensor \(spec.name) of shape \(spec.shapeDescription) is too large") }
                count = product
            }
            let (sum, overflow) = total.addingReportingOverflow(count)
            guard !overflow, sum <= Limits.parameters else {
                return ("hidden_size", "the model would have more than \(Limits.parameters) parameters (the documented maximum) — "
                        + "reduce hidden_size, visual_feat_dim, q_feat_size, max_ctx_l or max_desc_l")
            }
            total = sum
        }
        return nil
    }
}
