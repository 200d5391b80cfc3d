/// The sizes that define one MamFusion configuration (MODEL.md §1–2, §7). Every layer takes its
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
