import TensorKit

/// Temporary buffers of the Mamba unit's forward and backward: nothing in them survives a call,
/// so every Mamba unit of a model — they run one after another on a rank — can share one
/// `MambaScratch` sized for the largest of them (pass it to each `MambaWorkspace`). Sharing is
/// what keeps a model's memory near one unit's scratch instead of four (at TVR's 128 videos × 128
/// frames per rank, one unit's scratch is ≈ 280 MB).
///
/// Size, in floats, for `rows` rows of capacity (E = d_inner, N = d_state, R = dt_rank,
/// K = segment): rows·(d + 5E + R + 2N) + E·N + (2K + 1)·8·N + 2·E·N.
/// Not for concurrent use: two units must not run at the same time on one scratch.
public final class MambaScratch {
    public let dimensions: ModelDimensions
    /// Largest Σ lengths (valid rows) of a batch.
    public let rows: Int
    /// Largest scan checkpoint spacing K it serves.
    public let segmentLength: Int

    let storage: FloatStorage
    let modelRows: UnsafeMutablePointer<Float>         // T × d   output rows / ∂out rows / ∂x rows
    let gated: UnsafeMutablePointer<Float>             // T × E   y ⊙ SiLU(z), then ∂L/∂(gated), then ∂L/∂y
    let projectedGradient: UnsafeMutablePointer<Float> // T × 2E  ∂[x' | z]
    let deltaGradient: UnsafeMutablePointer<Float>     // T × E   ∂Δ, then ∂(δ W_dtᵀ + b_dt)
    let convolvedGradient: UnsafeMutablePointer<Float> // T × E   ∂u
    let selectionGradient: UnsafeMutablePointer<Float> // T × (R+2N)  ∂[δ | B | C]
    let decay: UnsafeMutablePointer<Float>             // N × E   −exp(A_log)·log2 e, transposed
    let scanScratch: UnsafeMutablePointer<Float>       // (2K + 1)·8·N + 2·E·N

    /// Floats for these sizes.
    public static func floatCount(dimensions: ModelDimensions, rows: Int, segmentLength: Int = 32) -> Int {
        let d = dimensions.hidden, e = dimensions.mambaInner, n = dimensions.mambaState
        let r = dimensions.mambaDtRank
        return rows * (d + 5 * e + r + 2 * n) + e * n
            + SelectiveScan.scratchCount(channels: e, states: n, segment: segmentLength)
    }

    public init(dimensions: ModelDimensions, rows: Int, segmentLength: Int = 32) {
        precondition(rows >= 1 && segmentLength >= 1, "MambaScratch needs positive sizes")
        self.dimensions = dimensions
        self.rows = rows
        self.segmentLength = segmentLength
        // 8 buffers, each rounded up to 16 floats (64 bytes) so every buffer starts aligned.
        storage = FloatStorage(count: Self.floatCount(dimensions: dimensions, rows: rows, segmentLength: segmentLength) + 8 * 16)
        let d = dimensions.hidden, e = dimensions.mambaInner, n = dimensions.mambaState
        let r = dimensions.mambaDtRank
        var next = storage.base
        func take(_ count: Int) -> UnsafeMutablePointer<Float> {
            defer { next += (count + 15) / 16 * 16 }
            return next
        }
        modelRows = take(rows * d)
        gated = take(rows * e)
        projectedGradient = take(rows * 2 * e)
        deltaGradient = take(rows * e)
        convolvedGradient = take(rows * e)
        selectionGradient = take(rows * (r + 2 * n))
        decay = take(e * n)
        scanScratch = take(SelectiveScan.scratchCount(channels: e, states: n, segment: segmentLength))
        precondition(next <= storage.base + storage.count, "MambaScratch layout overflow")
    }

    /// Bytes held.
    public var byteCount: Int { storage.count * MemoryLayout<Float>.stride }
}
