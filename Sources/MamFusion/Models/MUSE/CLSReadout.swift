import TensorKit

/// MUSE's video embedding from the last block's output (MUSE.md §2.6): the outputs at the first
/// T positions of each sequence (the frames' [CLS] tokens) are L2-normalised, averaged over the
/// video's real frames, and L2-normalised again:
///
///     o_t = y[t] / ‖y[t]‖ (t < T),   u = (1/T_v) Σ_{t < T_v} o_t,   v = u / ‖u‖
///
/// (the official `x / x.norm()`; here x / max(‖x‖, 1e-12), equal for any norm above 1e-12).
/// Sequences are packed: sequence s starts at row `batch.offsets[s]`; T_v = `realFrames[s]`.
/// ⚠ The multi-scale tokens reach v only through the reverse scan (they come after the [CLS]
/// positions in the sequence).
public final class CLSReadout {
    public let width: Int
    public let frames: Int
    let frameNorms = ActivationBuffer(), videoNorms = ActivationBuffer()
    /// o (videos × T × W) and u (videos × W), kept for backward.
    let normalizedFrames = ActivationBuffer(), means = ActivationBuffer()
    private var saved: (batch: SequenceBatch, realFrames: [Int])?

    public init(width: Int, frames: Int) {
        (self.width, self.frames) = (width, frames)
    }

    /// Writes v (videos × W) into `embeddings` from the sequences' rows `y`.
    public func forward(_ y: UnsafePointer<Float>, batch: SequenceBatch, realFrames: [Int], embeddings: UnsafeMutablePointer<Float>) {
        precondition(realFrames.count == batch.count && realFrames.allSatisfy { (1...frames).contains($0) },
                     "real frame counts \(realFrames) must lie in 1…\(frames), one per sequence")
        let videos = batch.count, w = width, t = frames
        let o = normalizedFrames.reserve(videos * t * w), u = means.reserve(videos * w)
        let norms = frameNorms.reserve(videos * t)
        for s in 0..<videos {
            L2Normalize.forward(x: y + batch.offsets[s] * w, y: o + s * t * w, norms: norms + s * t, rows: t, cols: w)
            ReduceMean.forward(x: o + s * t * w, y: u + s * w, outer: 1, axis: realFrames[s], inner: w)
        }
        L2Normalize.forward(x: u, y: embeddings, norms: videoNorms.reserve(videos), rows: videos, cols: w)
        saved = (batch, realFrames)
    }

    /// **Accumulates** ∂L/∂y into the [CLS] rows of `dy` (other rows untouched) from ∂L/∂v.
    /// `y` is the forward's input (the L2 backward reads it).
    public func backward(_ y: UnsafePointer<Float>, embeddingGradient dv: UnsafePointer<Float>, dy: UnsafeMutablePointer<Float>,
                         scratch: ScratchArena) {
        guard let (batch, realFrames) = saved else { preconditionFailure("CLSReadout.backward before forward") }
        let videos = batch.count, w = width, t = frames
        let du = scratch.zeroed(0, videos * w)
        L2Normalize.backward(x: means.pointer, norms: videoNorms.pointer, dy: dv, dx: du, rows: videos, cols: w)
        let dout = scratch.slot(1, t * w)
        for s in 0..<videos {
            let real = realFrames[s]
            dout.update(repeating: 0, count: t * w)
            ReduceMean.backward(dy: du + s * w, dx: dout, outer: 1, axis: real, inner: w)
            L2Normalize.backward(x: y + batch.offsets[s] * w, norms: frameNorms.pointer + s * t, dy: dout, dx: dy + batch.offsets[s] * w,
                                 rows: real, cols: w)
        }
    }
}
