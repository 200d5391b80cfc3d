#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif
import CounterRandom
import TensorKit

extension MambaParameters {
    /// Initialises the unit's tensors in place exactly as MODEL.md §5 prescribes:
    /// - `in_proj`, `x_proj`, `dt_proj`, `out_proj` weights ~ N(0, 0.02²);
    /// - `dt_proj.bias` = 0 (so the initial Δ = softplus(W_dt δ) ≈ softplus(0) ≈ 0.693);
    /// - `conv1d.weight`, `conv1d.bias` ~ U(−0.5, 0.5) (PyTorch's default bound 1/sqrt(fan-in 4));
    /// - `A_log[c, n] = log(n + 1)`; `D` = 1.
    ///
    /// `stream(name)` supplies the counter-based stream of each random tensor (the model keys it
    /// by the tensor's global name, DISTRIBUTED.md §2); element i of a tensor is draw i of its
    /// stream, so the result does not depend on the order tensors are initialised in. The
    /// deterministic tensors never ask for a stream.
    public func initialise(stream: (Name) -> RandomStream) {
        for name in Name.allCases {
            let t = self[name]
            switch name {
            case .inProjection, .xProjection, .dtProjectionWeight, .outProjection:
                stream(name).fillNormal(t.buffer, mean: 0, std: 0.02)
            case .convolutionWeight, .convolutionBias:
                stream(name).fillUniform(t.buffer, low: -0.5, high: 0.5)
            case .dtProjectionBias:
                t.fill(0)
            case .skip:
                t.fill(1)
            case .aLog:
                let channels = t.shape[0], states = t.shape[1]
                for c in 0..<channels {
                    for n in 0..<states { t.pointer[c * states + n] = Float(log(Double(n + 1))) }
                }
            }
        }
    }
}
