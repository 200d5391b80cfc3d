/// The CLIP token layout: precomputed CLIP ViT tokens of videos and end-of-text embeddings of
/// captions, for text–video retrieval heads that run over frozen CLIP (MUSE, MUSE.md §1). One
/// HDF5 file per collection; `mamfusion synth --layout clip-tokens` writes it, `inspect` reads
/// it, and training and evaluation read it in shards (each rank only its videos' frames, one
/// hyperslab per run of consecutive frames, through MPI-IO).
///
///     /videos/tokens          float16 (or float32) [F, N, W]: the tokens of every real frame of
///                             every video, video after video, frames in temporal order.
///                             N = 1 + G² tokens per frame: [CLS] first, then the G×G patch
///                             tokens row-major (grid row, then column) — CLIP's own order, taken
///                             after `ln_post` and `@ visual.proj`. F = Σ_v T_v.
///                             Chunked one frame per chunk (any chunking or none reads the same).
///     /videos/offsets         int64 [V + 1]: video v owns frames offsets[v] ..< offsets[v + 1];
///                             its real frame count T_v = offsets[v + 1] − offsets[v], 1 ≤ T_v ≤ T.
///     /videos/ids             strings [V]
///     /videos/padding_frame   float16 (or float32) [N, W]: the tokens of an all-zero normalised
///                             frame, one block for the collection. A video with T_v < T frames
///                             is completed to T frames with it (the model masks them out where
///                             the reference does).
///     /captions/embeddings    float16 (or float32) [C, W]: the end-of-text embedding of each
///                             caption (`ln_final`, `@ text_projection`, at the EOT position).
///     /captions/ids           strings [C]
///     /captions/video_index   int64 [C]: the caption's video (an index into /videos/ids)
///     /captions/text          strings [C]: the sentence (kept for reports)
///     /splits/<name>          int64 [P]: the split's (video, caption) pairs in order, each given
///                             by its caption index (the caption names its video). A caption may
///                             appear in several splits; a video may appear in many pairs.
///     root attributes         format = "mamfusion-clip-tokens", format_version = 1,
///                             width W, grid G, max_frames T, collection, source (free text),
///                             splits (names, comma-separated, in file order)
///
/// Strings are variable- or fixed-length, ASCII or UTF-8 (h5py's `str` works); integers any
/// signed type HDF5 converts to int64; floats float16 or float32 (float16 is exact for the
/// official fp16 CLIP and half the bytes). MSR-VTT (9k train + 1k-A test) at T = 12, G = 7,
/// W = 512: 10,000 videos ≈ 6.1 GB in float16.
public enum CLIPTokenFormat {
    public static let name = "mamfusion-clip-tokens"
    public static let version: Int64 = 1

    public static let tokens = "videos/tokens"
    public static let videoOffsets = "videos/offsets"
    public static let videoIDs = "videos/ids"
    public static let paddingFrame = "videos/padding_frame"
    public static let captionEmbeddings = "captions/embeddings"
    public static let captionIDs = "captions/ids"
    public static let captionVideo = "captions/video_index"
    public static let captionText = "captions/text"
    public static let splits = "splits"

    /// Tokens per frame for grid G: the [CLS] token and G² patches.
    public static func tokensPerFrame(grid: Int) -> Int { 1 + grid * grid }

    /// Largest accepted sizes (checked before any size is computed from them): width and grid
    /// as `FeatureLimits.maximumDimension` bounds any row; 4096 frames per video.
    public static let maximumWidth = 1 << 16
    public static let maximumGrid = 64
    public static let maximumFrames = 1 << 12
}
