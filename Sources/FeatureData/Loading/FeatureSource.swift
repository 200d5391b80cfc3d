/// Raw query token features as stored: float32 (or narrower, widened exactly) or float64.
/// The precision decides the precision of the normalisation (see `FeaturePreprocessing`).
public enum TokenValues: Sendable {
    case float32([Float])
    case float64([Double])

    /// How many values.
    public var count: Int {
        switch self {
        case .float32(let v): v.count
        case .float64(let v): v.count
        }
    }
}

/// One query's stored token features: `tokenCount` × Dq values, row-major.
public struct RawQuery: Sendable {
    public let tokenCount: Int
    public let values: TokenValues
}

/// Where an item of a source lives, for error messages.
public struct ItemLocation: Sendable {
    public let file: String
    public let item: String
}

/// A backend that reads stored (raw, unprocessed) features of one split: the release layout
/// (`ReleaseFeatureSource`) or the packed HDF5 layout (`PackedFeatureSource`).
///
/// Reads may be called from a background thread (the prefetcher), one at a time per source.
public protocol FeatureSource: AnyObject, Sendable {
    /// The split this source reads.
    var index: SplitIndex { get }
    /// Reads the stored frames of `videos` back to back — video after video, each T_v × Dv
    /// float32 rows in temporal order — into `output` (Σ T_v × Dv floats). Returns bytes read.
    func readFrames(of videos: [Int], into output: UnsafeMutablePointer<Float>) throws -> Int
    /// Reads the stored token features of `queries` (split caption indices), in that order.
    /// Returns them and the bytes read.
    func readQueries(_ queries: [Int]) throws -> (queries: [RawQuery], bytes: Int)
    /// The file and name of frame `frame` of video `video` (for errors such as a NaN).
    func locate(frame: Int, ofVideo video: Int) -> ItemLocation
    /// The file and name of the features of query `query`.
    func locate(query: Int) -> ItemLocation
}
