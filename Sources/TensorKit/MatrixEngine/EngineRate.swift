#if canImport(Glibc)
import Glibc
#endif

/// Measured speed of the matrix engine: the rate of one product shape under a selection, the
/// same-run limits the benches report fractions of (MATMUL.md §4), and the CPU features that
/// decide what bf16 can gain.
public enum EngineRate {
    /// Median GFLOP/s of C[m×n] = op(A)·op(B) (row-major; by default B transposed, as a Linear
    /// layer's x·Wᵀ) under `selection`, each repetition ≥ 50 ms. bf16 timings include rounding
    /// A (an activation, as in a step); B is registered as a weight, so its bf16 copy is made once.
    public static func gflops(_ selection: MatrixEngineSelection, m: Int, n: Int, k: Int, transA: Bool = false, transB: Bool = true,
                              repeats: Int = 3) -> Double {
        let a = FloatStorage(count: m * k), b = FloatStorage(count: n * k), c = FloatStorage(count: m * n)
        for i in 0..<a.count { a.base[i] = Float(i % 7) * 0.25 - 0.75 }
        for i in 0..<b.count { b.base[i] = Float(i % 5) * 0.25 - 0.5 }
        return MatrixEngine.with(selection) {
            MatrixEngine.withWeights(b.base, count: b.count) {
                func product() {
                    MatrixEngine.gemm(transA: transA, transB: transB, m: m, n: n, k: k, a: a.base, lda: transA ? m : k,
                                      b: b.base, ldb: transB ? k : n, c: c.base, ldc: n)
                }
                product()  // warm-up: primitives, workspaces, the weight copy
                var times: [Double] = []
                for _ in 0..<max(repeats, 1) {
                    let t0 = MonotonicClock.now()
                    var runs = 0
                    repeat { product(); runs += 1 } while MonotonicClock.now() - t0 < 0.05
                    times.append((MonotonicClock.now() - t0) / Double(runs))
                }
                times.sort()
                return 2.0 * Double(m) * Double(n) * Double(k) / times[times.count / 2] / 1e9
            }
        }
    }

    /// The shape whose rate is "the limit": large enough that every engine runs at its best.
    public static let limitShape = (m: 2048, n: 1024, k: 1024)

    /// The same-run limits: the best fp32 rate of the available engines and the bf16 rate of the
    /// engine that has bf16 kernels (oneDNN; OpenBLAS's bf16 is fp32 arithmetic on rounded
    /// operands), at `limitShape`.
    public struct Limits: Sendable {
        public var fp32: Double
        public var bf16: Double
        /// Useful FLOPs per second as fractions of the two limits.
        public func fractions(_ flopsPerSecond: Double) -> (fp32: Double, bf16: Double) {
            (flopsPerSecond / (fp32 * 1e9), flopsPerSecond / (bf16 * 1e9))
        }
    }

    public static func limits(repeats: Int = 3) -> Limits {
        let s = limitShape
        let openBLAS = gflops(.init(engine: .openblas, precision: .fp32), m: s.m, n: s.n, k: s.k, repeats: repeats)
        guard OneDNNLibrary.isAvailable else { return Limits(fp32: openBLAS, bf16: openBLAS) }
        let oneDNN = gflops(.init(engine: .onednn, precision: .fp32), m: s.m, n: s.n, k: s.k, repeats: repeats)
        let bf16 = gflops(.init(engine: .onednn, precision: .bf16), m: s.m, n: s.n, k: s.k, repeats: repeats)
        return Limits(fp32: max(openBLAS, oneDNN), bf16: bf16)
    }

    /// The CPU features behind the engines' kernels, as the kernel reports them (/proc/cpuinfo):
    /// a hypervisor may hide AMX from a CPU that has it.
    public struct CPUFeatures: Sendable, CustomStringConvertible {
        public var avx512 = false, avx512BF16 = false, amx = false
        public init(avx512: Bool = false, avx512BF16: Bool = false, amx: Bool = false) {
            self.avx512 = avx512
            self.avx512BF16 = avx512BF16
            self.amx = amx
        }
        public var description: String {
            "AVX-512 \(avx512 ? "yes" : "no"), AVX512-BF16 \(avx512BF16 ? "yes" : "no"), AMX \(amx ? "yes" : "no")"
        }
    }

    public static var cpuFeatures: CPUFeatures {
        var features = CPUFeatures()
        guard let file = fopen("/proc/cpuinfo", "r") else { return features }
        defer { fclose(file) }
        var line: UnsafeMutablePointer<CChar>? = nil, capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, file) > 0, let line {
            let text = String(cString: line)
            guard text.hasPrefix("flags") else { continue }
            let flags = Set(text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == ":" }).map(String.init))
            features.avx512 = flags.contains("avx512f")
            features.avx512BF16 = flags.contains("avx512_bf16")
            features.amx = flags.contains("amx_bf16") && flags.contains("amx_tile")
            break
        }
        return features
    }
}
