import CKernels
import CounterRandom

/// Inverted dropout keyed by the counter-based RNG (DISTRIBUTED.md §2): element i of the buffer
/// is dropped when `stream.uniform(at: start + i) < p`, kept elements are scaled by 1/(1 − p).
/// The draw is a pure function of (stream, start + i), so the same element gets the same decision
/// on any rank and after resume; callers choose `start` so different tensors of one step don't
/// share draws (or use different `stream.item`s).
///
/// Two ways to run backward, both exact: keep the `mask` written by forward (one float per
/// element: 0 or 1/(1 − p)), or pass `mask: nil` and recompute it from the stream in
/// `backward(dy:dx:count:p:stream:start:)` (no memory; Philox blocks drawn in bulk, vectorised).
/// p = 0 is an exact identity; p = 1 drops everything.
public enum Dropout {
    /// y = x ⊙ mask, mask[i] = (u_i < p ? 0 : 1/(1 − p)). y may alias x; mask may be nil.
    public static func forward(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, mask: UnsafeMutablePointer<Float>?,
                               count: Int, p: Float, stream: RandomStream, start: Int = 0) {
        precondition(p >= 0 && p <= 1, "dropout probability \(p) outside [0, 1]")
        if p == 0 {
            if UnsafePointer(y) != x { y.update(from: x, count: count) }
            mask?.update(repeating: 1, count: count)
            return
        }
        forEachChunk(count: count, p: p, stream: stream, start: start) { offset, factors, n in
            let xs = x + offset, ys = y + offset
            mapElements(xs, ys, count: n) { v, i in v * factors[i] }
            if let mask { (mask + offset).update(from: factors, count: n) }
        }
    }

    /// **Accumulates** dx += dy ⊙ mask from the mask saved by forward. dx must not alias dy.
    public static func backward(dy: UnsafePointer<Float>, mask: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { dx[i] += dy[i] * mask[i] }
    }

    /// **Accumulates** dx += dy ⊙ mask with the mask recomputed from (stream, start, p).
    public static func backward(dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, count: Int,
                                p: Float, stream: RandomStream, start: Int = 0) {
        precondition(p >= 0 && p <= 1, "dropout probability \(p) outside [0, 1]")
        if p == 0 {
            Vector.axpy(alpha: 1, x: dy, y: dx, count: count)
            return
        }
        forEachChunk(count: count, p: p, stream: stream, start: start) { offset, factors, n in
            let gs = dy + offset, ds = dx + offset
            for i in 0..<n { ds[i] += gs[i] * factors[i] }
        }
    }

    static let chunk = 256

    /// Calls `body(offset, factors, n)` for consecutive chunks of the buffer with the n ≤ 256
    /// mask factors of elements offset ..< offset + n, held in a stack buffer.
    @inline(__always)
    static func forEachChunk(count: Int, p: Float, stream: RandomStream, start: Int,
                             _ body: (Int, UnsafePointer<Float>, Int) -> Void) {
        let scale: Float = p >= 1 ? 0 : 1 / (1 - p)
        // Room for the partial Philox blocks at both ends of a chunk.
        withUnsafeTemporaryAllocation(of: Float.self, capacity: chunk + 8) { scratch in
            let base = scratch.baseAddress!
            var offset = 0
            while offset < count {
                let n = min(chunk, count - offset)
                let factors = fillFactors(base, count: n, first: start + offset, p: p, scale: scale, stream: stream)
                body(offset, factors, n)
                offset += n
            }
        }
    }

    /// Writes the factors (uniform(at: first + i) < p ? 0 : scale), i < count, into `scratch`
    /// (capacity ≥ count + 8) and returns where they start. The uniforms come from whole Philox
    /// blocks drawn in bulk by CKernels (bit-identical to `RandomStream.uniform(at:)`).
    static func fillFactors(_ scratch: UnsafeMutablePointer<Float>, count: Int, first: Int, p: Float, scale: Float,
                            stream: RandomStream) -> UnsafePointer<Float> {
        let lead = first & 3
        let blocks = (lead + count + 3) / 4
        mf_philox_uniform(UInt32(truncatingIfNeeded: stream.seed), UInt32(truncatingIfNeeded: stream.seed >> 32),
                          stream.item, stream.step, stream.purpose,
                          UInt32(truncatingIfNeeded: first >> 2), blocks, scratch)
        let factors = scratch + lead
        for i in 0..<count { factors[i] = factors[i] < p ? 0 : scale }
        return UnsafePointer(factors)
    }
}
