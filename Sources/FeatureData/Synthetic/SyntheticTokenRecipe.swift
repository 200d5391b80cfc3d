/// Sizes and knobs of a synthetic CLIP token collection (`mamfusion synth --layout clip-tokens`).
/// See `SyntheticTokenGenerator` for the generative model. Every size is configurable so tests
/// run small; the defaults make a demo-sized collection (W 32, grid 3).
public struct SyntheticTokenRecipe: Sendable, Equatable {
    public var collection = "synthetic-tokens"
    /// Videos in the train split.
    public var trainVideos = 64
    /// Videos in each of the val and test splits.
    public var evaluationVideos = 16
    /// Captions per train video (MSR-VTT: 20), every one a train pair.
    public var trainCaptionsPerVideo = 4
    /// Captions per val/test video (MSR-VTT 1k-A: 1).
    public var evaluationCaptionsPerVideo = 1
    /// Real frames per video, drawn uniformly.
    public var frames: ClosedRange<Int> = 4...8
    /// T: frames every video is completed to (MUSE: 12).
    public var maxFrames = 8
    /// W (CLIP ViT-B/32: 512).
    public var width = 32
    /// G (ViT-B/32 at 224²: 7).
    public var grid = 3
    public var seed: UInt64 = 1

    /// L: dimension of the latent space the views are made from; nil: min(16, W/2) (at least 2).
    public var latentDimension: Int? = nil
    public var effectiveLatentDimension: Int { latentDimension ?? max(2, min(16, width / 2)) }
    /// K: latent topics videos are drawn from (videos of one topic are hard negatives).
    public var topics = 8
    /// Weight of a video's own latent component against its topic centre.
    public var videoSpecificity: Float = 1.0
    /// Per-frame latent variation (a frame is its video's latent plus this much noise).
    public var frameVariation: Float = 0.3
    /// Per-caption latent noise (a paraphrase).
    public var captionNoise: Float = 0.25
    /// Per-element noise of tokens and embeddings (the signal's elements have variance ≈ 2).
    public var elementNoise: Float = 0.3

    public init() {}

    /// The splits in generation order with their videos' global index ranges.
    public var splits: [(name: String, videos: Range<Int>)] {
        [("train", 0..<trainVideos),
         ("val", trainVideos..<trainVideos + evaluationVideos),
         ("test", trainVideos + evaluationVideos..<trainVideos + 2 * evaluationVideos)]
    }

    public var totalVideos: Int { trainVideos + 2 * evaluationVideos }

    /// Captions of video `global`.
    public func captionsPerVideo(_ global: Int) -> Int { global < trainVideos ? trainCaptionsPerVideo : evaluationCaptionsPerVideo }

    /// Checks the sizes; problems name the flag.
    public func validate() throws {
        func bad(_ flag: String, _ problem: String) -> FeatureDataError { FeatureDataError(file: "synth", item: flag, problem) }
        if collection.isEmpty || collection.contains("/") { throw bad("--collection", "must be a non-empty name without '/'") }
        if trainVideos < 1 { throw bad("--videos", "must be ≥ 1") }
        if evaluationVideos < 1 { throw bad("--eval-videos", "must be ≥ 1") }
        if totalVideos > 10_000_000 { throw bad("--videos", "too many videos") }
        if trainCaptionsPerVideo < 1 || evaluationCaptionsPerVideo < 1 { throw bad("--queries-per-video", "must be ≥ 1") }
        if !(1...CLIPTokenFormat.maximumFrames).contains(maxFrames) { throw bad("--max-frames", "must be in 1…\(CLIPTokenFormat.maximumFrames)") }
        if frames.lowerBound < 1 || frames.upperBound > maxFrames { throw bad("--frames", "must lie in 1…max-frames (\(maxFrames))") }
        if !(1...CLIPTokenFormat.maximumWidth).contains(width) { throw bad("--width", "must be in 1…\(CLIPTokenFormat.maximumWidth)") }
        if !(1...CLIPTokenFormat.maximumGrid).contains(grid) { throw bad("--grid", "must be in 1…\(CLIPTokenFormat.maximumGrid)") }
        if maxFrames * CLIPTokenFormat.tokensPerFrame(grid: grid) * width > 1 << 30 { throw bad("--width", "a video of that size is too large") }
        if effectiveLatentDimension < 1 || topics < 1 { throw bad("recipe", "latent dimension and topics must be ≥ 1") }
    }
}
