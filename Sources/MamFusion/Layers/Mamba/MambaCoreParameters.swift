import TensorKit

/// The seven tensors of a Mamba core without its projections (`MambaUnit.forwardCore`): what
/// each direction of a bidirectional Mamba owns on its own while sharing in_proj and out_proj
/// (MUSE.md §2.5). Views in PyTorch layout into the caller's parameter (or gradient) buffers,
/// named as in a whole unit (`MambaParameters.Name`).
///
/// Shapes (E = d_inner, N = d_state, W = d_conv, R = dt_rank): `A_log` E×N, `D` E,
/// `conv1d.weight` E×1×W, `conv1d.bias` E, `x_proj.weight` (R+2N)×E, `dt_proj.weight` E×R,
/// `dt_proj.bias` E.
public struct MambaCoreParameters {
    /// The core's tensors, in the order of a unit's state_dict (every unit tensor but in_proj and out_proj).
    public static let names: [MambaParameters.Name] = MambaParameters.Name.allCases.filter { $0 != .inProjection && $0 != .outProjection }

    public let aLog: Tensor
    public let skip: Tensor
    public let convolutionWeight: Tensor
    public let convolutionBias: Tensor
    public let xProjection: Tensor
    public let dtProjectionWeight: Tensor
    public let dtProjectionBias: Tensor

    /// Views supplied by the caller (asked for the core's names only); each must have exactly
    /// `name.shape(dimensions)`.
    public init(dimensions: ModelDimensions, view: (MambaParameters.Name) -> Tensor) {
        self.init(views: { name in
            let t = view(name)
            precondition(t.shape == name.shape(dimensions), "Mamba core \(name.rawValue): expected shape \(name.shape(dimensions)), got \(t.shape)")
            return t
        })
    }

    /// Views already known to have the right shapes.
    init(views view: (MambaParameters.Name) -> Tensor) {
        (aLog, skip, convolutionWeight, convolutionBias) = (view(.aLog), view(.skip), view(.convolutionWeight), view(.convolutionBias))
        (xProjection, dtProjectionWeight, dtProjectionBias) = (view(.xProjection), view(.dtProjectionWeight), view(.dtProjectionBias))
    }

    /// Values in one core: 60,928 for MUSE's (W = 512, expand 1, d_state 16, dt_rank 32).
    public static func count(_ dimensions: ModelDimensions) -> Int {
        names.reduce(0) { $0 + $1.shape(dimensions).reduce(1, *) }
    }

    /// The core tensor `name` (one of `names`).
    public subscript(name: MambaParameters.Name) -> Tensor {
        switch name {
        case .aLog: return aLog
        case .skip: return skip
        case .convolutionWeight: return convolutionWeight
        case .convolutionBias: return convolutionBias
        case .xProjection: return xProjection
        case .dtProjectionWeight: return dtProjectionWeight
        case .dtProjectionBias: return dtProjectionBias
        case .inProjection, .outProjection: preconditionFailure("\(name.rawValue) is not a tensor of the Mamba core")
        }
    }

    public var tensors: [Tensor] { Self.names.map { self[$0] } }

    /// Sets every element to zero (e.g. gradients before a step).
    public func zero() { for t in tensors { t.fill(0) } }
}

extension MambaParameters {
    /// The unit's core tensors (everything but in_proj and out_proj), as the same views (their
    /// shapes were checked when the unit's views were).
    public var core: MambaCoreParameters { MambaCoreParameters(views: { self[$0] }) }
}
