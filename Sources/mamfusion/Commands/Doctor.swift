import ArgumentParser
import CKernels
import Foundation
import HDF5Kit
import MPIKit
import TensorKit
#if canImport(Glibc)
import Glibc
#endif

/// `mamfusion doctor`: the first command a cluster user runs. Under `mpirun -np P` it prints the
/// world (ranks, hosts, BLAS threads, library versions), the matrix engine (`matmul_engine:
/// auto` resolved, oneDNN's instruction set, the CPU features, the kernels each precision gets
/// and their rates), verifies an all-reduce and an all-gather on every rank, measures each rank's
/// GFLOP/s on the model's shapes and the all-reduce bandwidth for 1–64 MiB buffers.
struct Doctor: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the MPI world, the native libraries and this machine's speed."
    )

    @Option(help: "All-reduce buffer sizes in MiB (comma-separated).")
    var sizes: String = "1,2,4,8,16,32,64"

    @Option(help: "Timed repetitions per measurement (the median is reported).")
    var repeats: Int = 5

    @Flag(help: "Skip the speed measurements (world and correctness checks only).")
    var quick = false

    func validate() throws {
        _ = try BenchArguments.integers(sizes, option: "--sizes")
        try BenchArguments.atLeast(repeats, 1, option: "--repeats")
    }

    func run() throws {
        let world = try Communicator.world()
        let r = world.rank, p = world.size
        let host = try world.hostName()
        let threads = BLAS.threads

        if r == 0 {
            print("mamfusion doctor")
            print("  world:   \(p) rank\(p == 1 ? "" : "s")\(p == 1 ? " (no mpirun: MPI singleton)" : "")")
            print("  MPI:     \(Communicator.libraryVersion())")
            print("  HDF5:    \(HDF5Library.version)\(HDF5Library.isParallel ? " (parallel, MPI-IO)" : " (serial)")")
            print("  BLAS:    \(BLAS.configuration)")
            print("  kernels: \(BLAS.core)")
            Self.printMatrixEngine(measure: !quick, repeats: repeats)
        }

        // Correctness: every rank checks the result it received.
        let summed = try world.allreduce((0..<1024).map { Float(r + 1) + Float($0) }, .sum)
        let expectedBase = Float(p * (p + 1) / 2)
        let allreduceOK = summed.enumerated().allSatisfy { $0.element == expectedBase + Float(p) * Float($0.offset) }
        let gathered = try world.allgather([Int64(r), Int64(r * r)])
        let allgatherOK = gathered == (0..<p).flatMap { [Int64($0), Int64($0 * $0)] }
        let okEverywhere = try world.allreduce(Int32(allreduceOK && allgatherOK ? 1 : 0), .min) == 1

        // Speed: sgemm on the model's shapes, one measurement per rank at the same time.
        var gflops: [Double] = [0, 0]
        let shapes = [(m: 384, n: 384, k: 384), (m: 4096, n: 384, k: 3072)]
        if !quick {
            for (i, s) in shapes.enumerated() { gflops[i] = Self.sgemmGFLOPs(m: s.m, n: s.n, k: s.k, repeats: repeats) }
        }
        let row = "  rank \(r)  host \(host)  pid \(getpid())  BLAS threads \(threads)  allreduce \(allreduceOK ? "ok" : "WRONG")  allgather \(allgatherOK ? "ok" : "WRONG")"
            + (quick ? "" : String(format: "  sgemm 384x384x384 %.1f GFLOP/s  4096x384x3072 %.1f GFLOP/s", gflops[0], gflops[1]))
        try world.printInRankOrder(header: "ranks:", lines: [row])

        if !quick {
            let latency = try Self.allreduceLatency(world)
            if r == 0 { print(String(format: "allreduce latency (one float, median of 200): %.1f µs", latency * 1e6)) }
            let mib = try BenchArguments.integers(sizes, option: "--sizes")
            if r == 0 { print("allreduce bandwidth (float32 sum, median of \(repeats); bus = 2(P−1)/P · bytes / time):") }
            for size in mib {
                let (seconds, algbw) = try Self.allreduceBandwidth(world, bytes: size << 20, repeats: repeats)
                let busbw = p > 1 ? algbw * 2 * Double(p - 1) / Double(p) : 0
                if r == 0 {
                    print(String(format: "  %3d MiB  %8.2f ms  algbw %6.2f GB/s  busbw %6.2f GB/s", size, seconds * 1e3, algbw / 1e9, busbw / 1e9))
                }
            }
        }
        if r == 0 { print(okEverywhere ? "doctor: all checks passed on \(p) rank\(p == 1 ? "" : "s")" : "doctor: a collective returned a WRONG result (see above)") }
        if !okEverywhere { throw ExitCode(2) }
    }

    /// The engine `matmul_engine: auto` picks here, what oneDNN dispatches to, the CPU features,
    /// the kernels each precision's products get at a model shape, and (with `measure`) the
    /// same-run rates of every engine and precision.
    static func printMatrixEngine(measure: Bool, repeats: Int) {
        let features = EngineRate.cpuFeatures
        if let reason = OneDNNLibrary.unavailableReason {
            print("  matmul:  auto → openblas (\(reason))")
        } else {
            MatrixEngine.configure(.init(engine: .onednn, precision: .fp32))  // one thread per rank, as a run sets it
            print("  matmul:  auto → onednn (oneDNN \(OneDNNLibrary.version), instruction set \(OneDNNLibrary.instructionSet), "
                  + "\(OneDNNLibrary.threads) thread\(OneDNNLibrary.threads == 1 ? "" : "s") per rank)")
        }
        print("  CPU:     \(features)")
        let lanes = mf_mamba_scan_lanes()
        print("  scan:    the Mamba selective scan runs \(lanes) lanes wide (\(lanes == 16 ? "AVX-512; MAMFUSION_SCAN_LANES=8 for AVX2" : "AVX2 + FMA"))")
        guard OneDNNLibrary.isAvailable else { return }
        // The kernels oneDNN creates for a Linear layer's products (1024 rows, 384 → 384).
        var chosen: [String] = []
        for precision in Precision.allCases {
            MatrixEngine.resetStatistics()
            _ = EngineRate.gflops(.init(engine: .onednn, precision: precision), m: 1024, n: 384, k: 384, repeats: 1)
            let kernels = MatrixEngine.statistics.kernels.keys.sorted()
            chosen.append("\(precision.rawValue) \(kernels.joined(separator: ", "))")
        }
        print("  oneDNN kernels: \(chosen.joined(separator: "; "))")
        guard measure else { return }
        let s = EngineRate.limitShape
        let rates = [MatrixEngineSelection(engine: .openblas, precision: .fp32), .init(engine: .onednn, precision: .fp32),
                     .init(engine: .onednn, precision: .bf16)].map { ($0, EngineRate.gflops($0, m: s.m, n: s.n, k: s.k, repeats: repeats)) }
        print("  rates at \(s.m)×\(s.n)×\(s.k), \(BLAS.threads) thread\(BLAS.threads == 1 ? "" : "s") (GFLOP/s): "
              + rates.map { String(format: "%@ %.0f", $0.0.description, $0.1) }.joined(separator: ", "))
        let ratio = rates[2].1 / max(rates[1].1, rates[0].1)
        let verdict = ratio >= 1.2 ? String(format: "bf16 runs %.1f× the fp32 rate here: precision bf16 pays off", ratio)
            : String(format: "bf16 runs %.2f× the fp32 rate here%@: keep precision fp32 on this CPU", ratio,
                     features.amx ? "" : " (no AMX: oneDNN uses AVX512-BF16 dot products or converts)")
        print("  \(verdict)")
    }

    /// Median GFLOP/s of C = A·B (m×k · k×n, row-major, single precision) over `repeats` runs.
    static func sgemmGFLOPs(m: Int, n: Int, k: Int, repeats: Int) -> Double {
        let a = Tensor(shape: [m, k]), b = Tensor(shape: [k, n]), c = Tensor(shape: [m, n])
        a.fill(0.5); b.fill(0.25)
        MatrixEngine.gemm(m: m, n: n, k: k, a: a.pointer, lda: k, b: b.pointer, ldb: n, c: c.pointer, ldc: n)  // warm-up
        var times: [Double] = []
        for _ in 0..<max(repeats, 1) {
            let t0 = MonotonicClock.now()
            var runs = 0
            repeat {
                MatrixEngine.gemm(m: m, n: n, k: k, a: a.pointer, lda: k, b: b.pointer, ldb: n, c: c.pointer, ldc: n)
                runs += 1
            } while MonotonicClock.now() - t0 < 0.05
            times.append((MonotonicClock.now() - t0) / Double(runs))
        }
        return 2.0 * Double(m) * Double(n) * Double(k) / median(times) / 1e9
    }

    /// Median seconds of an all-reduce of one float (the per-message cost `bench train
    /// --network-latency` takes), the slowest rank's.
    static func allreduceLatency(_ world: Communicator) throws -> Double {
        var value: Float = 1
        var times: [Double] = []
        for _ in 0..<200 {
            value = 1
            let t0 = MonotonicClock.now()
            try withUnsafeMutablePointer(to: &value) { try world.allreduce(inPlace: UnsafeMutableBufferPointer(start: $0, count: 1), .sum) }
            times.append(MonotonicClock.now() - t0)
        }
        return try world.allreduce(median(times), .max)
    }

    /// Median seconds of one in-place all-reduce of `bytes` and the algorithm bandwidth (bytes/s).
    static func allreduceBandwidth(_ world: Communicator, bytes: Int, repeats: Int) throws -> (Double, Double) {
        let storage = FloatStorage(count: bytes / MemoryLayout<Float>.stride)
        storage.buffer.update(repeating: 1)
        try world.allreduce(inPlace: storage.buffer, .sum)  // warm-up (allocates MPI's internal buffers)
        var times: [Double] = []
        for _ in 0..<max(repeats, 1) {
            try world.barrier()
            let t0 = MonotonicClock.now()
            try world.allreduce(inPlace: storage.buffer, .sum)
            let local = MonotonicClock.now() - t0
            times.append(try world.allreduce(local, .max))  // the slowest rank defines the time
        }
        let t = median(times)
        return (t, Double(bytes) / t)
    }
}
