import TensorKit

/// Caller-owned memory of one Mamba unit for packed batches of up to `rowCapacity` valid rows in
/// up to `batch` sequences of up to `maxLength` steps: allocated once per batch shape, reused by
/// every forward/backward, so nothing allocates inside a step.
///
/// It holds what `forward` saves for `backward` (must survive between them), in floats, with
/// T = rowCapacity rows, E = d_inner, N = d_state, R = dt_rank, K = segment (the input rows x
/// are the caller's, read again by backward):
///   [x', z] (2E) + u (E) + [δ, B, C] (R+2N) + Δ (E) + y (E) per row, i.e.
///   T·(5E + R + 2N), plus the scan checkpoints: per sequence of length L,
///   (⌈L/K⌉ − 1)·E·N (the state h every K steps; never the per-step state);
/// and a reference to a `MambaScratch` (its own, or one shared by all units of the model).
///
/// Scan memory per video of length L: (⌈L/K⌉ − 1)·E·N floats of checkpoints that live from
/// forward to backward, plus (2K + 1)·8·N + 2·E·N floats of scratch per call. For L = 512,
/// E = 768, N = 16, K = 32: 15·768·16 = 184,320 floats = 720 KiB per video (keeping every h_t
/// would be 512·768·16 floats = 24 MiB, 34× more), and 32.5 KiB + 96 KiB scratch.
///
/// Why K = 32 by default: the backward recomputes each segment for one block of 8 channels at a
/// time, so the recomputed states and their exp(Δ·A) factors take (2K + 1)·8·N floats — 32.5 KiB
/// at K = 32, about the L1 — independent of d_inner. Recomputation costs one extra forward scan
/// whatever K is (so K ≈ √L, which balances checkpoints against a segment buffer of all channels,
/// does not apply here); measured at d_inner 768 and L = 32…512, K = 16…128 run within noise of
/// each other, so K trades only checkpoint memory (∝ 1/K) against L1 residency of the segment.
public final class MambaWorkspace {
    public let dimensions: ModelDimensions
    /// Largest number of sequences in a batch.
    public let batch: Int
    /// Largest padded length of a batch.
    public let maxLength: Int
    /// Steps between scan checkpoints (K).
    public let segmentLength: Int
    /// Valid rows (Σ lengths) a batch may have.
    public let rowCapacity: Int

    let storage: FloatStorage
    /// Temporary buffers (possibly shared with other units).
    public let scratch: MambaScratch

    let projected: UnsafeMutablePointer<Float>     // T × 2E  [x' | z]
    let convolved: UnsafeMutablePointer<Float>     // T × E   u = SiLU(conv(x'))
    let selection: UnsafeMutablePointer<Float>     // T × (R+2N)  [δ | B | C]
    let delta: UnsafeMutablePointer<Float>         // T × E   Δ
    let scanOutput: UnsafeMutablePointer<Float>    // T × E   y (before the SiLU(z) gate)
    let checkpoints: UnsafeMutablePointer<Float>   // Σ_seq (⌈L/K⌉ − 1) × N × E

    /// Rows of the last forward (0 before any), checked by backward.
    var forwardRows = 0
    /// Seconds spent in selective scans (forward and backward) with this workspace.
    public var scanSeconds = 0.0
    /// The packed input rows of the last forward (the caller's buffer, read again by backward
    /// for ∂W_in).
    var savedInput: UnsafePointer<Float>

    /// A workspace for packed batches (`MambaUnit.forward(packed:…)`) of at most `rows` valid rows
    /// in at most `sequences` sequences of at most `maxLength` steps. The input rows are the
    /// caller's (not copied). A sequence of L steps keeps ⌈L/K⌉ − 1 ≤ (L − 1)/K checkpoints, so
    /// ⌈rows/K⌉ states always suffice.
    public convenience init(dimensions: ModelDimensions, packedRows rows: Int, sequences: Int, maxLength: Int,
                            segmentLength: Int = 32, scratch: MambaScratch? = nil) {
        self.init(dimensions: dimensions, rows: rows, sequences: sequences, maxLength: maxLength,
                  checkpointStates: (rows + segmentLength - 1) / segmentLength, segmentLength: segmentLength,
                  scratch: scratch)
    }

    init(dimensions: ModelDimensions, rows: Int, sequences batch: Int, maxLength: Int, checkpointStates: Int,
         segmentLength: Int, scratch: MambaScratch?) {
        precondition(batch >= 1 && maxLength >= 1 && segmentLength >= 1 && rows >= 1, "MambaWorkspace needs positive sizes")
        self.dimensions = dimensions
        self.batch = batch
        self.maxLength = maxLength
        self.segmentLength = segmentLength
        self.rowCapacity = rows
        let shared = scratch ?? MambaScratch(dimensions: dimensions, rows: rows, segmentLength: segmentLength)
        precondition(shared.dimensions == dimensions && shared.rows >= rows && shared.segmentLength >= segmentLength,
                     "MambaScratch (\(shared.rows) rows, K \(shared.segmentLength)) too small for \(rows) rows, K \(segmentLength)")
        self.scratch = shared
        // 6 buffers, each rounded up to 16 floats (64 bytes) so every buffer starts aligned.
        let e0 = dimensions.mambaInner, n0 = dimensions.mambaState
        let savedPerRow = 5 * e0 + dimensions.mambaDtRank + 2 * n0
        storage = FloatStorage(count: rows * savedPerRow + checkpointStates * e0 * n0 + 6 * 16)
        let e = dimensions.mambaInner, n = dimensions.mambaState
        let r = dimensions.mambaDtRank
        var next = storage.base
        func take(_ count: Int) -> UnsafeMutablePointer<Float> {
            defer { next += (count + 15) / 16 * 16 }
            return next
        }
        projected = take(rows * 2 * e)
        convolved = take(rows * e)
        selection = take(rows * (r + 2 * n))
        delta = take(rows * e)
        scanOutput = take(rows * e)
        checkpoints = take(checkpointStates * e * n)
        precondition(next <= storage.base + storage.count, "MambaWorkspace layout overflow")
        savedInput = UnsafePointer(storage.base)
    }

    /// The packed [x' | z] rows (row stride 2E) a core-only forward (`MambaUnit.forwardCore`)
    /// reads: the caller writes its in-projection's output here.
    public var projectedRows: UnsafeMutablePointer<Float> { projected }

    /// Bytes this workspace holds, its scratch not included.
    public var byteCount: Int { storage.count * MemoryLayout<Float>.stride }
}
