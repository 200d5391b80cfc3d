import ArgumentParser
import Foundation
import TensorKit

/// `mamfusion bench …`: speed measurements (benchmarks, not tests). Each prints numbers
/// measured in one run so ratios are meaningful on a shared, noisy machine.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure speed: sgemm, kernels, a model training step, sharded evaluation, distributed training, sharded loading (--json: one object per run).",
        subcommands: [SgemmBench.self, BenchKernels.self, BenchModel.self, BenchEval.self, BenchTrain.self, BenchData.self]
    )
}

/// `mamfusion bench sgemm M N K`: median GFLOP/s of one row-major C = A·B through `BLAS.gemm`,
/// timed exactly like Launch/native/sgemm_bench.c (its C twin).
struct SgemmBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sgemm", abstract: "GFLOP/s of C[m×n] = A[m×k]·B[k×n].")
    @Argument var m: Int
    @Argument var n: Int
    @Argument var k: Int
    @Option(help: "Timed repetitions (median reported).") var repeats: Int = 7
    @Flag(help: "Print a JSON object instead of the bare number.") var json = false

    func validate() throws {
        for (name, value) in [("M", m), ("N", n), ("K", k)] { try BenchArguments.atLeast(value, 1, option: name) }
        try BenchArguments.atLeast(repeats, 1, option: "--repeats")
    }

    func run() throws {
        let gflops = Doctor.sgemmGFLOPs(m: m, n: n, k: k, repeats: repeats)
        if json {
            try printJSONObject(["m": m, "n": n, "k": k, "gflops": gflops, "blas_threads": BLAS.threads, "blas_core": BLAS.core])
        } else {
            print(String(format: "%.2f", gflops))
        }
    }
}
