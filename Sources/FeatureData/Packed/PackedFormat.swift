/// Names and version of the packed HDF5 layout (DATA.md §2), written by `convert` and `synth`:
///
///     /frames                float32 (total_frames × Dv), chunked along rows (see below)
///     /video_offsets         int64 (V + 1): video v owns rows video_offsets[v] ..< video_offsets[v+1]
///     /video_ids             strings (V)
///     /queries/features      float32 — or float64 when the source stored float64 — (total_tokens × Dq), chunked along rows
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
/// Storage: chunks of ≈ 1 MiB of rows, as DATA.md §2 asks (`convert --contiguous` writes
/// contiguous datasets instead; readers accept either). HDF5Kit's row transfers use a memory
/// dataspace shaped like the selection, so a chunked row range is read chunk by chunk:
/// measured 2.7 GB/s (1 rank) and 2.1–2.4 GB/s per rank (2 ranks) on TVR-shaped frames,
/// against 2.1 and 2.2–2.3 GB/s contiguous (`selftest-data --bench`, warm cache).
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
