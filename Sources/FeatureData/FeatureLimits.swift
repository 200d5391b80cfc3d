/// The largest sizes this module accepts from a data file, checked before any arithmetic is
/// done with them (so that no product can overflow and no allocation is sized by garbage).
/// Each is far above the reference collections (DATA.md §1, §4) and is documented in the
/// README ("Input limits").
public enum FeatureLimits {
    /// Floats per feature row — D of `shape.txt`, `dv` / `dq` of a packed file, Dq of query
    /// features: 2^20 (4 MiB a row). The reference uses 3072 (TVR) and 1024.
    public static let maximumDimension = 1 << 20
    /// Rows of `feature.bin` (N of `shape.txt`): 2^31 − 1, because rows are addressed with
    /// 32-bit indices. TVR has about 2 million.
    public static let maximumRows = Int(Int32.max)

    /// Tokens of one query's features (n_tokens of a query-feature dataset): 4096 (RoBERTa
    /// gives at most 512).
    public static let maximumTokens = 1 << 12
    /// Floats of one query's features (n_tokens × Dq): 2^26 (256 MiB; TVR: at most 512 × 768).
    public static let maximumQueryFloats = 1 << 26

    /// `value` if it lies in `1...maximum` (or `0...maximum` when `allowZero`), else the
    /// problem in words, naming `what`.
    static func problem(_ what: String, _ value: Int, maximum: Int, allowZero: Bool = false) -> String? {
        let minimum = allowZero ? 0 : 1
        if value < minimum { return "\(what) = \(value): must be ≥ \(minimum)" }
        if value > maximum { return "\(what) = \(value): larger than the maximum of \(maximum)" }
        return nil
    }
}
