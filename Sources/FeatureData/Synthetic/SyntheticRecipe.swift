/// Sizes and knobs of a synthetic dataset (`mamfusion synth`). See `SyntheticGenerator` for
/// the generative model.
public struct SyntheticRecipe: Sendable, Equatable {
    public var collection = "synthetic"
    /// Feature folder name in the release layout.
    public var visualFeature = "synthetic"
    /// Videos in the train split.
    public var trainVideos = 64
    /// Videos in each of the val and test splits.
    public var evaluationVideos = 8
    public var queriesPerVideo = 3
    public var frames: ClosedRange<Int> = 8...24
    public var tokens: ClosedRange<Int> = 4...12
    public var visualDimension = 64
    public var queryDimension = 32
    public var seed: UInt64 = 1

    // The generative model.
    /// L: dimension of the latent space both views are made from; nil: min(32, Dv/2, Dq/2)
    /// (at least 2), so that both views keep the latent space recoverable.
    public var latentDimension: Int? = nil

    /// The L in use.
    public var effectiveLatentDimension: Int { latentDimension ?? max(2, min(32, visualDimension / 2, queryDimension / 2)) }
    /// K: latent topics moments are drawn from.
    public var topics = 16
    /// Moments per video (never more than its frames).
    public var moments: ClosedRange<Int> = 2...4
    /// Weight of a moment's own latent component against its topic centre.
    public var momentSpecificity: Float = 1.0
    /// Per-caption latent noise (a paraphrase of the moment).
    public var captionNoise: Float = 0.25
    /// Per-element noise of frame features, relative to the signal's element scale.
    public var frameNoise: Float = 0.6
    /// Per-element noise of token features.
    public var tokenNoise: Float = 0.6

    public init() {}

    /// The default visual-feature folder: the reference collection's (DATA.md §1), else
    /// "synthetic".
    public static func defaultVisualFeature(collection: String) -> String {
        CollectionPaths.referenceVisualFeature(collection: collection) ?? "synthetic"
    }

    /// The splits in generation order with their videos' global index ranges.
    public var splits: [(name: String, videos: Range<Int>)] {
        [("train", 0..<trainVideos),
         ("val", trainVideos..<trainVideos + evaluationVideos),
         ("test", trainVideos + evaluationVideos..<trainVideos + 2 * evaluationVideos)]
    }

    public var totalVideos: Int { trainVideos + 2 * evaluationVideos }

    /// Checks the sizes; problems name the flag.
    public func validate() throws {
        func bad(_ flag: String, _ problem: String) -> FeatureDataError { FeatureDataError(file: "synth", item: flag, problem) }
        if collection.isEmpty || collection.contains("/") { throw bad("--collection", "must be a non-empty name without '/'") }
        if trainVideos < 1 { throw bad("--videos", "must be ≥ 1") }
        if evaluationVideos < 1 { throw bad("--eval-videos", "must be ≥ 1") }
        if totalVideos > 50_000_000 { throw bad("--videos", "too many videos") }
        if queriesPerVideo < 1 { throw bad("--queries-per-video", "must be ≥ 1") }
        if frames.lowerBound < 1 { throw bad("--frames", "the minimum must be ≥ 1") }
        if tokens.lowerBound < 1 { throw bad("--tokens", "the minimum must be ≥ 1") }
        if visualDimension < 1 { throw bad("--dv", "must be ≥ 1") }
        if queryDimension < 1 { throw bad("--dq", "must be ≥ 1") }
        if frames.upperBound * visualDimension > 1 << 30 { throw bad("--frames", "a video of \(frames.upperBound) × \(visualDimension) floats is too large") }
        if effectiveLatentDimension < 1 || topics < 1 || moments.lowerBound < 1 { throw bad("recipe", "latent dimension, topics and moments must be ≥ 1") }
    }

    /// Parses `MIN..MAX` (or a single `N`) as used by `--frames` and `--tokens`.
    public static func parseRange(_ text: String, flag: String) throws -> ClosedRange<Int> {
        let parts = text.components(separatedBy: "..")
        if parts.count == 1, let n = Int(parts[0].trimmed), n >= 1 { return n...n }
        guard parts.count == 2, let lo = Int(parts[0].trimmed), let hi = Int(parts[1].trimmed), lo >= 1, lo <= hi else {
            throw FeatureDataError(file: "synth", item: flag, "expected MIN..MAX with 1 ≤ MIN ≤ MAX, got '\(text)'")
        }
        return lo...hi
    }
}

extension String {
    fileprivate var trimmed: String { String(self.drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed()) }

    fileprivate func components(separatedBy separator: String) -> [String] {
        var parts: [String] = []
        var rest = Substring(self)
        while let range = rest.firstRange(of: separator) {
            parts.append(String(rest[..<range.lowerBound]))
            rest = rest[range.upperBound...]
        }
        parts.append(String(rest))
        return parts
    }
}
