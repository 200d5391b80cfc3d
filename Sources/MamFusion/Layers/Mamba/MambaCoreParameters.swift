import TensorKit

/// The seven tensors of a Mamba core without its projections (`MambaUnit.forwardCore`): what
/// each direction of a bidirectional Mamba owns on its own while sharing in_proj and out_proj
/// (MUSE.md §2.5). Views in PyTorch layout into the caller's parameter (or gradient) buffers.
///
/// Shapes (E = d_inner, N = d_state, W = d_conv, R = dt_rank): `A_log` E×N, `D` E,
/// `conv1d.weight` E×1×W, `conv1d.bias` E, `x_proj.weight` (R+2N)×E, `dt_proj.weight` E×R,
/// `dt_proj.bias` E.
public struct MambaCoreParameters {
    /// The tensors in the order of a unit's state_dict, named as in a Mamba unit (Vim names the
    /// backward direction's copies with a `_b` suffix on the module or parameter name).
    public enum Name: String, CaseIterable, Sendable {
        case aLog = "A_log"
        case skip = "D"
        case convolutionWeight = "conv1d.weight"
        case convolutionBias = "conv1d.bias"
        case xProjection = "x_proj.weight"
        case dtProjectionWeight = "dt_proj.weight"
        case dtProjectionBias = "dt_proj.bias"

        /// The same tensor in a whole unit.
        public var unitName: MambaParameters.Name { MambaParameters.Name(rawValue: rawValue)! }

        public func shape(_ dimensions: ModelDimensions) -> [Int] { unitName.shape(dimensions) }
    }

    public let aLog: Tensor
    public let skip: Tensor
    public let convolutionWeight: Tensor
    public let convolutionBias: Tensor
    public let xProjection: Tensor
    public let dtProjectionWeight: Tensor
    public let dtProjectionBias: Tensor

    /// Views supplied by the caller; each must have exactly `name.shape(dimensions)`.
    public init(dimensions: ModelDimensions, view: (Name) -> Tensor) {
        func checked(_ name: Name) -> Tensor {
            let t = view(name)
            precondition(t.shape == name.shape(dimensions), "Mamba core \(name.rawValue): expected shape \(name.shape(dimensions)), got \(t.shape)")
            return t
        }
        aLog = checked(.aLog)
        skip = checked(.skip)
        convolutionWeight = checked(.convolutionWeight)
        convolutionBias = checked(.convolutionBias)
        xProjection = checked(.xProjection)
        dtProjectionWeight = checked(.dtProjectionWeight)
        dtProjectionBias = checked(.dtProjectionBias)
    }

    /// Values in one core: 60,928 for MUSE's (W = 512, expand 1, d_state 16, dt_rank 32).
    public static func count(_ dimensions: ModelDimensions) -> Int {
        Name.allCases.reduce(0) { $0 + $1.shape(dimensions).reduce(1, *) }
    }

    public subscript(name: Name) -> Tensor {
        switch name {
        case .aLog: return aLog
        case .skip: return skip
        case .convolutionWeight: return convolutionWeight
        case .convolutionBias: return convolutionBias
        case .xProjection: return xProjection
        case .dtProjectionWeight: return dtProjectionWeight
        case .dtProjectionBias: return dtProjectionBias
        }
    }

    public var tensors: [Tensor] { Name.allCases.map { self[$0] } }

    /// Views already known to have the right shapes.
    init(views view: (Name) -> Tensor) {
        (aLog, skip, convolutionWeight, convolutionBias) = (view(.aLog), view(.skip), view(.convolutionWeight), view(.convolutionBias))
        (xProjection, dtProjectionWeight, dtProjectionBias) = (view(.xProjection), view(.dtProjectionWeight), view(.dtProjectionBias))
    }

    /// Sets every element to zero (e.g. gradients before a step).
    public func zero() { for t in tensors { t.fill(0) } }
}

extension MambaParameters {
    /// The unit's core tensors (everything but in_proj and out_proj), as the same views (their
    /// shapes were checked when the unit's views were).
    public var core: MambaCoreParameters {
        MambaCoreParameters(views: { self[$0.unitName] })
    }
}
