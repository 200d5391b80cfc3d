import TensorKit

/// The precision of the evaluator's score products (`eval_scoring`), whatever precision the
/// encoders run in. The engine (OpenBLAS or oneDNN) is the process's.
public enum ScoringMode: String, CaseIterable, Sendable, CustomStringConvertible {
    /// Every score product in fp32: the reference ranks and scores.
    case fp32
    /// Screen every score in bf16 (fp32 accumulation), re-score in fp32 only the (query, video
    /// block) rows that hold a near-tie — a video whose bf16 score lies within the rigorous error
    /// bound (`BF16ScoreBound`) of the ground truth's fp32 score — or a top-K candidate: ranks,
    /// scores and top-K lists identical, bit for bit, to `fp32` (`ExactScreen`).
    case exactBF16 = "exact-bf16"
    /// Plain bf16 scores, ranked as they are: the ranks may differ from fp32's wherever scores lie
    /// within about 0.3% of each other. For measuring what exactness costs; not exact.
    case bf16

    /// The precision of the products whose bits the results are: fp32 except for plain bf16.
    var resultPrecision: Precision { self == .bf16 ? .bf16 : .fp32 }

    public var description: String { rawValue }

    /// What `eval_scoring: auto` picks: `exactBF16` where bf16 products run well above the fp32
    /// rate — oneDNN on a CPU with AMX tiles (5–12× fp32 at the evaluation's shapes, MATMUL.md §1)
    /// — else `fp32`. Measured on a CPU without AMX (AVX512-BF16 only), oneDNN's bf16 products run
    /// at about half the fp32 rate, so screening costs more than it saves there (issue 22's note).
    /// The choice never changes a result: both give the same bits.
    public static func automatic(engine: MatmulEngineKind, features: EngineRate.CPUFeatures = EngineRate.cpuFeatures) -> ScoringMode {
        engine == .onednn && features.amx ? .exactBF16 : .fp32
    }
}
