/// Which model a run trains and evaluates (configuration key `model`; MODEL.md §10).
///
/// MamFusion is GMMFormer plus four Mamba units (one after each GMMBlock of both video branches)
/// and two fusion modules (between the second query pass and the pooled frame vectors). The two
/// models share every encoder, the loss, the sharded loss head, evaluation and checkpoints; these
/// two properties are the only places where they differ:
/// - `hasMambaUnits`: a video branch's stack is GMMBlock → Mamba → GMMBlock → Mamba, or
///   GMMBlock → GMMBlock;
/// - `hasFusion`: the query-diverse loss takes the fused second query pass qf, or the unfused
///   second query pass q2.
/// Parameter names are the MamFusion names of the modules a model has.
public enum ModelKind: String, Sendable, CaseIterable, Codable {
    /// MamFusion (MODEL.md §1–9), the default.
    case mamFusion = "mamfusion"
    /// GMMFormer, the baseline PRVR papers compare against (MODEL.md §10).
    case gmmFormer = "gmmformer"

    /// Whether each GMMBlock of the clip and frame branches is followed by a Mamba unit.
    public var hasMambaUnits: Bool { self == .mamFusion }

    /// Whether the model has the `v2t_fusion` / `t2v_fusion` modules (training only).
    public var hasFusion: Bool { self == .mamFusion }

    /// The name papers use ("MamFusion", "GMMFormer").
    public var displayName: String {
        switch self {
        case .mamFusion: return "MamFusion"
        case .gmmFormer: return "GMMFormer"
        }
    }
}
