import TensorKit

/// The nine tensors of one Mamba-1 unit (`<name>.0.*` in PARAMETERS.md), as views in PyTorch
/// layout. The same type carries a unit's gradients (`MambaGradients`): the model keeps
/// parameters and gradients in flat buffers of one layout, and both are handed to the unit as
/// views into them. The views never own anything the unit frees.
///
/// Shapes (E = d_inner = 2d, N = d_state, W = d_conv, R = dt_rank):
/// `A_log` E×N, `D` E, `in_proj.weight` 2E×d, `conv1d.weight` E×1×W, `conv1d.bias` E,
/// `x_proj.weight` (R+2N)×E, `dt_proj.weight` E×R, `dt_proj.bias` E, `out_proj.weight` d×E.
public struct MambaParameters {
    /// The tensors' reference names (suffixes after `<name>.0.`), in state_dict order.
    public enum Name: String, CaseIterable, Sendable {
        case aLog = "A_log"
        case skip = "D"
        case inProjection = "in_proj.weight"
        case convolutionWeight = "conv1d.weight"
        case convolutionBias = "conv1d.bias"
        case xProjection = "x_proj.weight"
        case dtProjectionWeight = "dt_proj.weight"
        case dtProjectionBias = "dt_proj.bias"
        case outProjection = "out_proj.weight"

        /// The PyTorch shape of this tensor for `dimensions`.
        public func shape(_ dimensions: ModelDimensions) -> [Int] {
            let d = dimensions.hidden, e = dimensions.mambaInner, n = dimensions.mambaState
            let r = dimensions.mambaDtRank, w = dimensions.mambaConvolution
            switch self {
            case .aLog: return [e, n]
            case .skip: return [e]
            case .inProjection: return [2 * e, d]
            case .convolutionWeight: return [e, 1, w]
            case .convolutionBias: return [e]
            case .xProjection: return [r + 2 * n, e]
            case .dtProjectionWeight: return [e, r]
            case .dtProjectionBias: return [e]
            case .outProjection: return [d, e]
            }
        }
    }

    /// A_log (E×N); A = −exp(A_log).
    public let aLog: Tensor
    /// D (E): the skip term y_t += D ⊙ u_t.
    public let skip: Tensor
    /// W_in (2E×d): rows 0..<E give x', rows E..<2E give z.
    public let inProjection: Tensor
    /// Depthwise causal conv weight (E×1×W).
    public let convolutionWeight: Tensor
    /// Conv bias (E).
    public let convolutionBias: Tensor
    /// W_x ((R+2N)×E): rows 0..<R give δ, then N rows for B, N rows for C.
    public let xProjection: Tensor
    /// W_dt (E×R).
    public let dtProjectionWeight: Tensor
    /// b_dt (E), added before the softplus.
    public let dtProjectionBias: Tensor
    /// W_out (d×E).
    public let outProjection: Tensor

    /// Views supplied by the caller, e.g. `{ set.tensor("frame_encoder_1_mamba.0." + $0.rawValue) }`.
    /// Each view must have exactly `name.shape(dimensions)`.
    public init(dimensions: ModelDimensions, view: (Name) -> Tensor) {
        func checked(_ name: Name) -> Tensor {
            let t = view(name)
            precondition(t.shape == name.shape(dimensions),
                         "Mamba \(name.rawValue): expected shape \(name.shape(dimensions)), got \(t.shape)")
            return t
        }
        aLog = checked(.aLog)
        skip = checked(.skip)
        inProjection = checked(.inProjection)
        convolutionWeight = checked(.convolutionWeight)
        convolutionBias = checked(.convolutionBias)
        xProjection = checked(.xProjection)
        dtProjectionWeight = checked(.dtProjectionWeight)
        dtProjectionBias = checked(.dtProjectionBias)
        outProjection = checked(.outProjection)
    }

    /// Fresh zero-filled tensors in one storage of their own, contiguous in `Name` order (tests,
    /// stand-alone use).
    public init(allocating dimensions: ModelDimensions) {
        let storage = FloatStorage(count: Self.count(dimensions))
        var offset = 0
        self.init(dimensions: dimensions) { name in
            let shape = name.shape(dimensions)
            defer { offset += shape.reduce(1, *) }
            return Tensor(storage: storage, offset: offset, shape: shape)
        }
    }

    /// Values in one unit (963,840 for d = 384).
    public static func count(_ dimensions: ModelDimensions) -> Int {
        Name.allCases.reduce(0) { $0 + $1.shape(dimensions).reduce(1, *) }
    }

    public subscript(name: Name) -> Tensor {
        switch name {
        case .aLog: return aLog
        case .skip: return skip
        case .inProjection: return inProjection
        case .convolutionWeight: return convolutionWeight
        case .convolutionBias: return convolutionBias
        case .xProjection: return xProjection
        case .dtProjectionWeight: return dtProjectionWeight
        case .dtProjectionBias: return dtProjectionBias
        case .outProjection: return outProjection
        }
    }

    /// All nine tensors in `Name` order.
    public var tensors: [Tensor] { Name.allCases.map { self[$0] } }

    /// Sets every element to zero (e.g. gradients before a step).
    public func zero() { for t in tensors { t.fill(0) } }
}

/// A Mamba unit's gradients: the same nine views, into the gradient buffer.
public typealias MambaGradients = MambaParameters
