import CounterRandom

/// Inverted dropout keyed by the counter-based RNG (DISTRIBUTED.md §2): element i of the buffer
/// is dropped when `stream.uniform(at: start + i) < p`, kept elements are scaled by 1/(1 − p).
/// The draw is a pure function of (stream, start + i), so the same element gets the same decision
/// on any rank and after resume; callers choose `start` so different tensors of one step don't
/// share draws (or use different `stream.item`s).
///
/// Two ways to run backward, both exact: keep the `mask` written by forward (one float per
/// element: 0 or 1/(1 − p)), or pass `mask: nil` and recompute it from the stream in
/// `backward(dy:dx:count:p:stream:start:)` (no memory, one Philox block per 4 elements).
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
            for i in 0..<n { ys[i] = xs[i] * factors[i] }
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
        withUnsafeTemporaryAllocation(of: Float.self, capacity: chunk) { scratch in
            let factors = scratch.baseAddress!
            var offset = 0
            while offset < count {
                let n = min(chunk, count - offset)
                fillFactors(factors, count: n, first: start + offset, p: p, scale: scale, stream: stream)
                body(offset, factors, n)
                offset += n
            }
        }
    }

    /// factors[i] = (uniform(at: first + i) < p ? 0 : scale), drawing each Philox block once for
    /// its four words (bit-identical to `RandomStream.uniform(at:)`).
    static func fillFactors(_ factors: UnsafeMutablePointer<Float>, count: Int, first: Int, p: Float, scale: Float,
                            stream: RandomStream) {
        var i = 0
        while i < count {
            let index = first + i
            let w = stream.words(block: UInt32(truncatingIfNeeded: index >> 2))
            var lane = index & 3
            while lane < 4 && i < count {
                let word: UInt32
                switch lane {
                case 0: word = w.0
                case 1: word = w.1
                case 2: word = w.2
                default: word = w.3
                }
                let u = Float(word >> 8) * 0x1p-24
                factors[i] = u < p ? 0 : scale
                lane += 1
                i += 1
            }
        }
    }
}
