import Testing
@testable import FeatureData

/// The resampler and the normalisations against hand-computed cases and values pinned from
/// NumPy 2.4 (`np.linalg.norm(x, axis=-1)`, pairwise summation).
struct FeaturePreprocessingTests {
    @Test("boundaries: T < M repeats frames (T=3, M=5)")
    func boundariesShort() {
        // i·3/5 = 0, 0.6, 1.2, 1.8, 2.4, 3 → 0, 1, 1, 2, 2, 3 → clamp 2.
        #expect(FeaturePreprocessing.resampleBoundaries(frameCount: 3, rows: 5) == [0, 1, 1, 2, 2, 2])
    }

    @Test("boundaries: T = M keeps every frame (T=M=4)")
    func boundariesEqual() {
        #expect(FeaturePreprocessing.resampleBoundaries(frameCount: 4, rows: 4) == [0, 1, 2, 3, 3])
    }

    @Test("boundaries: T > M averages segments and the clamp drops the last frame (T=8, M=3)")
    func boundariesLong() {
        // i·8/3 = 0, 2.67, 5.33, 8 → 0, 3, 5, 8 → clamp 7: frame 7 is in no segment.
        #expect(FeaturePreprocessing.resampleBoundaries(frameCount: 8, rows: 3) == [0, 3, 5, 7])
    }

    @Test("boundaries: T = 1 repeats the only frame; halves round to even")
    func boundariesOneAndHalves() {
        #expect(FeaturePreprocessing.resampleBoundaries(frameCount: 1, rows: 4) == [0, 0, 0, 0, 0])
        // 5/2 = 2.5 → 2 (half to even, not 3); 3/2 = 1.5 → 2; 7/2 = 3.5 → 4.
        #expect(FeaturePreprocessing.resampleBoundaries(frameCount: 5, rows: 2) == [0, 2, 4])
        #expect(FeaturePreprocessing.resampleBoundaries(frameCount: 3, rows: 2) == [0, 2, 2])
        #expect(FeaturePreprocessing.resampleBoundaries(frameCount: 7, rows: 2) == [0, 4, 6])
    }

    @Test("boundaries equal NumPy's float64 round(arange(M+1)/M*T) for the reference's power-of-two M")
    func boundariesMatchNumPyFormula() {
        for m in [32, 64, 128] {
            for t in 1...600 {
                let numpy = (0...m).map { i in min(Int((Double(i) / Double(m) * Double(t)).rounded(.toNearestOrEven)), t - 1) }
                #expect(FeaturePreprocessing.resampleBoundaries(frameCount: t, rows: m) == numpy, "T=\(t) M=\(m)")
            }
        }
    }

    /// Frame k of a 2-D test video: [k + 1, 2k + 1].
    static func video(_ t: Int) -> [Float] { (0..<t).flatMap { [Float($0 + 1), Float(2 * $0 + 1)] } }

    static func normalised(_ row: [Double]) -> [Float] {
        let norm = (row[0] * row[0] + row[1] * row[1]).squareRoot()
        return row.map { Float($0 / (norm + 1e-5)) }
    }

    func clip(_ t: Int, _ m: Int) -> [Float] {
        let frames = Self.video(t)
        var out = [Float](repeating: .nan, count: m * 2)
        var scratch = [Double](repeating: 0, count: m * 2)
        frames.withUnsafeBufferPointer { f in
            FeaturePreprocessing.clipInput(f.baseAddress!, frameCount: t, dimension: 2, mapSize: m, scratch: &scratch, into: &out)
        }
        return out
    }

    @Test("clip input of hand-computed videos: T=3→5, T=4→4, T=8→3, T=1→4")
    func clipInputs() {
        let f = { (k: Int) -> [Double] in [Double(k + 1), Double(2 * k + 1)] }
        func mean(_ ks: [Int]) -> [Double] { [ks.map { f($0)[0] }.reduce(0, +) / Double(ks.count), ks.map { f($0)[1] }.reduce(0, +) / Double(ks.count)] }
        #expect(clip(3, 5) == [f(0), f(1), f(1), f(2), f(2)].flatMap(Self.normalised))
        #expect(clip(4, 4) == [f(0), f(1), f(2), f(3)].flatMap(Self.normalised))
        #expect(clip(8, 3) == [mean([0, 1, 2]), mean([3, 4]), mean([5, 6])].flatMap(Self.normalised))
        #expect(clip(1, 4) == [f(0), f(0), f(0), f(0)].flatMap(Self.normalised))
        // [3, 4] → norm 5 → [3/5.00001, 4/5.00001] written out by hand.
        #expect(Self.normalised([3, 4]) == [Float(3.0 / 5.00001), Float(4.0 / 5.00001)])
    }

    @Test("frame input keeps T ≤ max_ctx_l frames and resamples longer videos")
    func frameInputs() {
        for (t, maxContext) in [(3, 4), (4, 4), (9, 4), (1, 4)] {
            let frames = Self.video(t)
            let rows = FeaturePreprocessing.frameInputRows(frameCount: t, maxContextLength: maxContext)
            #expect(rows == min(t, maxContext))
            var out = [Float](repeating: .nan, count: rows * 2)
            var scratch = [Double](repeating: 0, count: maxContext * 2)
            frames.withUnsafeBufferPointer { f in
                FeaturePreprocessing.frameInput(f.baseAddress!, frameCount: t, dimension: 2, maxContextLength: maxContext, scratch: &scratch, into: &out)
            }
            if t <= maxContext {
                let expected: [Float] = (0..<t).flatMap { (k: Int) -> [Float] in Self.normalised([Double(k + 1), Double(2 * k + 1)]) }
                #expect(out == expected)
            } else {
                #expect(out == clip(t, maxContext))  // the same resampler
            }
        }
    }

    /// x_i = ((7919·i mod 2003) − 1001)/64, every 7th scaled by 1.0009765625: exact in float32.
    static func pinned(_ n: Int) -> [Float] {
        (0..<n).map { i in
            let x = Float((i * 7919) % 2003 - 1001) / 64
            return i % 7 == 0 ? x * 1.0009765625 : x
        }
    }

    @Test("sums of squares follow NumPy's pairwise order (float64 and float32), pinned from NumPy",
          arguments: [(5, 0x408a_0f56_7e90_8800 as UInt64, 0x4450_7ab4 as UInt32, 0x3eae_878f as UInt32, 0x3eae_8790 as UInt32),
                      (20, 0x4097_0368_666b_8800, 0x44b8_1b43, 0xbe9f_77a4, 0xbe9f_77a3),
                      (300, 0x40d7_c3c0_1974_b840, 0x46be_1e00, 0xbd9d_21a5, 0xbd9d_21a5),
                      (3072, 0x410e_9ad0_abdf_9850, 0x4874_d685, 0xbbb2_f1d2, 0xbbb2_f1d3)])
    func pairwise(n: Int, sum64: UInt64, sum32: UInt32, last64: UInt32, last32: UInt32) {
        let x = Self.pinned(n)
        x.withUnsafeBufferPointer { p in
            #expect(FeaturePreprocessing.pairwiseSumOfSquaresWidened(p.baseAddress!, n).bitPattern == sum64)
            #expect(FeaturePreprocessing.pairwiseSumOfSquares(p.baseAddress!, n).bitPattern == sum32)
            var out = [Float](repeating: 0, count: n)
            FeaturePreprocessing.normaliseWidened(p.baseAddress!, count: n, into: &out)
            #expect(out[n - 1].bitPattern == last64, "float64 path")
            FeaturePreprocessing.queryInput(p.baseAddress!, tokenCount: 1, dimension: n, maxDescriptionLength: 30, into: &out)
            #expect(out[n - 1].bitPattern == last32, "float32 path")
        }
    }

    @Test("queries keep the first max_desc_l tokens, each normalised")
    func queryTruncation() {
        let d = 3, n = 5
        let tokens: [Float] = (0..<(n * d)).map { Float($0 % 7) - 2 }
        var out = [Float](repeating: .nan, count: n * d)
        let kept = tokens.withUnsafeBufferPointer {
            FeaturePreprocessing.queryInput($0.baseAddress!, tokenCount: n, dimension: d, maxDescriptionLength: 2, into: &out)
        }
        #expect(kept == 2)
        for j in 0..<2 {
            let row = tokens[(j * d)..<((j + 1) * d)]
            let norm = (row.reduce(Float(0)) { $0 + $1 * $1 }).squareRoot() + Float(1e-5)
            #expect(Array(out[(j * d)..<((j + 1) * d)]) == row.map { $0 / norm })
        }
        #expect(out[2 * d].isNaN)  // nothing written past the kept tokens
    }

    @Test("non-finite values are found")
    func nonFinite() {
        var x = [Float](repeating: 1, count: 100)
        #expect(FeaturePreprocessing.firstNonFinite(x, count: 100) == nil)
        x[37] = .infinity
        x[60] = .nan
        #expect(FeaturePreprocessing.firstNonFinite(x, count: 100) == 37)
        #expect(FeaturePreprocessing.firstNonFinite([1.0, -.infinity] as [Double], count: 2) == 1)
    }
}
