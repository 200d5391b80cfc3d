import TensorKit

/// The reference's per-video and per-query preprocessing (DATA.md §1), exactly.
///
/// Videos (the reference turns BigFile rows into float64, computes in float64, then the model
/// sees float32):
/// - resample(T frames → M rows): idx_i = round_half_to_even(i·T/M) for i = 0…M, clamped to
///   T−1; row i = mean(frames[idx_i ..< idx_{i+1}]) if idx_i < idx_{i+1}, else frames[idx_i].
///   The clamp drops the last frame from the last segment when T ≥ M.
/// - clip input (M = map_size rows) and frame input (min(T, max_ctx_l) rows; resampled only
///   when T > max_ctx_l), each row then L2-normalised as x / (‖x‖ + 1e-5) and rounded to float32.
///
/// Queries: every token L2-normalised the same way, then the first max_desc_l tokens kept. The
/// reference computes this in the stored precision (NumPy on the HDF5 array): float32 features
/// are normalised in float32, float64 features in float64 then rounded.
///
/// To reproduce NumPy bit for bit, sums follow NumPy's order: a segment mean adds rows one after
/// another from zero and divides by the count (`np.mean(axis=0)`); a row norm is NumPy's pairwise
/// sum of the squares (`np.linalg.norm(axis=-1)` = `sqrt(add.reduce(x*x))`), then one division
/// per element. The boundaries use exact integer arithmetic for i·T/M; for M a power of two (the
/// reference's 32 and max_ctx_l) that equals NumPy's float64 `arange(M+1)/M*T` exactly.
public enum FeaturePreprocessing {
    /// The ε of the reference's `l2_normalize_np_array`.
    public static let epsilon = 1e-5

    /// The M + 1 segment boundaries idx_0 … idx_M for resampling T ≥ 1 frames to M ≥ 1 rows.
    public static func resampleBoundaries(frameCount t: Int, rows m: Int) -> [Int] {
        (0...m).map { i in
            let numerator = i * t
            var q = numerator / m
            let r = numerator - q * m
            if 2 * r > m || (2 * r == m && q & 1 == 1) { q += 1 }  // round half to even
            return min(q, t - 1)
        }
    }

    /// Resamples `frameCount` rows of `dimension` float32 values at `frames` to `rows` float64
    /// rows at `output` (rows × dimension). See the type's documentation.
    public static func resample(_ frames: UnsafePointer<Float>, frameCount: Int, dimension d: Int,
                                rows m: Int, into output: UnsafeMutablePointer<Double>) {
        let idx = resampleBoundaries(frameCount: frameCount, rows: m)
        for i in 0..<m {
            let row = output + i * d
            let s = idx[i], e = idx[i + 1]
            if s < e {
                row.update(repeating: 0, count: d)
                for f in s..<e { accumulate(frames + f * d, into: row, count: d) }
                let n = Double(e - s)
                for j in 0..<d { row[j] = row[j] / n }
            } else {
                let frame = frames + s * d
                for j in 0..<d { row[j] = Double(frame[j]) }
            }
        }
    }

    /// The clip input: `frames` (T × D) resampled to `mapSize` rows and row-normalised, written
    /// as float32 to `output` (mapSize × D). `scratch` holds at least mapSize × D doubles.
    public static func clipInput(_ frames: UnsafePointer<Float>, frameCount: Int, dimension d: Int, mapSize: Int,
                                 scratch: UnsafeMutablePointer<Double>, into output: UnsafeMutablePointer<Float>) {
        resample(frames, frameCount: frameCount, dimension: d, rows: mapSize, into: scratch)
        for i in 0..<mapSize { normalise(UnsafePointer(scratch + i * d), count: d, into: output + i * d) }
    }

    /// Rows of the frame input for a video of `frameCount` frames: min(T, max_ctx_l).
    public static func frameInputRows(frameCount: Int, maxContextLength: Int) -> Int {
        min(frameCount, maxContextLength)
    }

    /// The frame input: the T frames (resampled to `maxContextLength` rows if T is larger),
    /// row-normalised, as float32 in `output` (frameInputRows × D). `scratch` holds at least
    /// maxContextLength × D doubles (used only when resampling).
    public static func frameInput(_ frames: UnsafePointer<Float>, frameCount: Int, dimension d: Int, maxContextLength: Int,
                                  scratch: UnsafeMutablePointer<Double>, into output: UnsafeMutablePointer<Float>) {
        if frameCount > maxContextLength {
            resample(frames, frameCount: frameCount, dimension: d, rows: maxContextLength, into: scratch)
            for i in 0..<maxContextLength { normalise(UnsafePointer(scratch + i * d), count: d, into: output + i * d) }
        } else {
            for i in 0..<frameCount { normaliseWidened(frames + i * d, count: d, into: output + i * d) }
        }
    }

    /// The query input from float32 tokens: the first min(n, maxDescriptionLength) of the
    /// `tokenCount` tokens, each normalised in float32. Returns the rows written.
    @discardableResult
    public static func queryInput(_ tokens: UnsafePointer<Float>, tokenCount: Int, dimension d: Int, maxDescriptionLength: Int,
                                  into output: UnsafeMutablePointer<Float>) -> Int {
        let kept = min(tokenCount, maxDescriptionLength)
        for i in 0..<kept { normalise(tokens + i * d, count: d, into: output + i * d) }
        return kept
    }

    /// The query input from float64 tokens: normalised in float64, rounded to float32.
    @discardableResult
    public static func queryInput(_ tokens: UnsafePointer<Double>, tokenCount: Int, dimension d: Int, maxDescriptionLength: Int,
                                  into output: UnsafeMutablePointer<Float>) -> Int {
        let kept = min(tokenCount, maxDescriptionLength)
        for i in 0..<kept { normalise(tokens + i * d, count: d, into: output + i * d) }
        return kept
    }

    // MARK: - Kernels

    @inline(__always)
    static func accumulate(_ frame: UnsafePointer<Float>, into row: UnsafeMutablePointer<Double>, count d: Int) {
        for j in 0..<d { row[j] += Double(frame[j]) }
    }

    /// x / (‖x‖ + ε) for a float64 row, rounded to float32.
    static func normalise(_ x: UnsafePointer<Double>, count d: Int, into output: UnsafeMutablePointer<Float>) {
        let denominator = pairwiseSumOfSquares(x, d).squareRoot() + epsilon
        for j in 0..<d { output[j] = Float(x[j] / denominator) }
    }

    /// x / (‖x‖ + ε) for a float32 row widened to float64 (a frame kept as is), rounded back.
    static func normaliseWidened(_ x: UnsafePointer<Float>, count d: Int, into output: UnsafeMutablePointer<Float>) {
        let denominator = pairwiseSumOfSquaresWidened(x, d).squareRoot() + epsilon
        for j in 0..<d { output[j] = Float(Double(x[j]) / denominator) }
    }

    /// x / (‖x‖ + ε) computed in float32 (NumPy on a float32 array: ε is a float32 1e-5).
    static func normalise(_ x: UnsafePointer<Float>, count d: Int, into output: UnsafeMutablePointer<Float>) {
        let denominator = pairwiseSumOfSquares(x, d).squareRoot() + Float(epsilon)
        for j in 0..<d { output[j] = x[j] / denominator }
    }

    /// NumPy's pairwise summation (`pairwise_sum` in loops_utils.h) of x[i]² in the precision of
    /// `T`: the squares are formed first (NumPy's `x*x`), then fewer than 8 terms are added in
    /// order; up to 128 with eight interleaved accumulators combined as
    /// ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)) plus the remainder in order; more are split at n/2
    /// rounded down to a multiple of 8.
    static func pairwiseSumOfSquares<T: BinaryFloatingPoint>(_ x: UnsafePointer<T>, _ n: Int) -> T {
        withUnsafeTemporaryAllocation(of: T.self, capacity: max(n, 1)) { squares in
            let s = squares.baseAddress!
            for i in 0..<n { s[i] = x[i] * x[i] }
            return pairwiseSum(UnsafePointer(s), n)
        }
    }

    /// `pairwiseSumOfSquares` of float32 values squared in float64.
    static func pairwiseSumOfSquaresWidened(_ x: UnsafePointer<Float>, _ n: Int) -> Double {
        withUnsafeTemporaryAllocation(of: Double.self, capacity: max(n, 1)) { squares in
            let s = squares.baseAddress!
            for i in 0..<n { let v = Double(x[i]); s[i] = v * v }
            return pairwiseSum(UnsafePointer(s), n)
        }
    }

    /// NumPy's pairwise sum of `n` values at `a`.
    static func pairwiseSum<T: BinaryFloatingPoint>(_ a: UnsafePointer<T>, _ n: Int) -> T {
        if n < 8 {
            var result: T = 0
            for i in 0..<n { result += a[i] }
            return result
        } else if n <= 128 {
            var r0 = a[0], r1 = a[1], r2 = a[2], r3 = a[3], r4 = a[4], r5 = a[5], r6 = a[6], r7 = a[7]
            var i = 8
            let whole = n - n % 8
            while i < whole {
                r0 += a[i]; r1 += a[i + 1]; r2 += a[i + 2]; r3 += a[i + 3]
                r4 += a[i + 4]; r5 += a[i + 5]; r6 += a[i + 6]; r7 += a[i + 7]
                i += 8
            }
            var result = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
            while i < n {
                result += a[i]
                i += 1
            }
            return result
        } else {
            var half = n / 2
            half -= half % 8
            return pairwiseSum(a, half) + pairwiseSum(a + half, n - half)
        }
    }

    /// The index of the first NaN or ±Inf among `count` floats, or nil (`NonFiniteScan`).
    public static func firstNonFinite(_ x: UnsafePointer<Float>, count: Int) -> Int? { NonFiniteScan.first(x, count: count) }

    /// `firstNonFinite` over a buffer (nil for an empty one).
    public static func firstNonFinite(_ x: UnsafeBufferPointer<Float>) -> Int? { NonFiniteScan.first(x) }

    /// `firstNonFinite` over a buffer of float64 values (nil for an empty one).
    public static func firstNonFinite(_ x: UnsafeBufferPointer<Double>) -> Int? { NonFiniteScan.first(x) }

    /// `firstNonFinite` for float64 values.
    public static func firstNonFinite(_ x: UnsafePointer<Double>, count: Int) -> Int? { NonFiniteScan.first(x, count: count) }
}
