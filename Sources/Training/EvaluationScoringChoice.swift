import Evaluation
import MamFusion
import TensorKit

extension ScoringMode {
    /// The mode a configuration's `eval_scoring` asks for, with `auto` resolved for the engine the
    /// products run on (`ScoringMode.automatic`). Every rank resolves it the same way from its own
    /// CPU; a rank that resolved differently would still give the same results (exact-bf16 and
    /// fp32 give the same bits).
    public init(_ choice: RunConfiguration.EvalScoring, engine: MatmulEngineKind) {
        switch choice {
        case .auto: self = .automatic(engine: engine)
        case .fp32: self = .fp32
        case .exactBF16: self = .exactBF16
        case .bf16: self = .bf16
        }
    }
}
