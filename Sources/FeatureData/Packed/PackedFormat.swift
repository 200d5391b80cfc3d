/// Names and version of the packed HDF5 layout (DATA.md §2), written by `convert` and `synth`:
///
///     /frames                float32 (total_frames × Dv), contiguous (see below)
///     /video_offsets         int64 (V + 1): video v owns rows video_offsets[v] ..< video_offsets[v+1]
///     /video_ids             strings (V)
///     /queries/features      float32 — or float64 when the source stored float64 — (total_tokens × Dq), contiguous
///     /queries/offsets       int64 (Q + 1)
///     /queries/cap_ids       strings (Q)
///     /queries/video_index   int64 (Q): index into /video_ids
///     /queries/text          strings (Q)
///     /queries/stored_bits   int64 (Q): 32 or 64, the precision the source stored each query in
///                            (a float64 file may hold float32 queries of a mixed source: they
///                            are normalised in float32, as when read from the source)
///     /splits/<split>        group; attributes query_start, query_count: the split's queries are
///                            the contiguous range [start, start + count) in caption-file order
///     root attributes        format, format_version, dv, dq, collection, visual_feature, source, splits
///
/// Features are stored raw (as in the source, bit for bit); preprocessing happens on load, so
/// both layouts give identical model inputs. A video used by several splits is stored once.
///
/// Why contiguous, although DATA.md §2 suggests chunks along rows: a row range of a contiguous
/// dataset is one byte range of the file, which MPI-IO and POSIX read directly. Through
/// HDF5Kit's row transfers (a rank-1 memory dataspace) HDF5 1.10 maps a chunked selection to
/// chunks element by element: measured 114 MB/s per rank on chunked TVR-shaped frames against
/// ≈ 2–4 GB/s contiguous. Readers accept either storage (`PackedFeatureWriter(chunked: true)`
/// writes chunks, for when that mapping is cheap).
public enum PackedFormat {
    public static let name = "mamfusion-packed-features"
    public static let version: Int64 = 1

    static let frames = "frames"
    static let videoOffsets = "video_offsets"
    static let videoIDs = "video_ids"
    static let tokenFeatures = "queries/features"
    static let queryOffsets = "queries/offsets"
    static let capIDs = "queries/cap_ids"
    static let queryVideo = "queries/video_index"
    static let queryText = "queries/text"
    static let queryBits = "queries/stored_bits"
    static let splits = "splits"

    /// Rows per chunk for rows of `rowBytes` bytes: about 1 MiB per chunk (HDF5's default chunk
    /// cache holds one such chunk, so sequential writes never re-read a chunk).
    static func chunkRows(rowBytes: Int, totalRows: Int) -> Int {
        max(1, min(max(totalRows, 1), (1 << 20) / max(rowBytes, 1)))
    }
}
