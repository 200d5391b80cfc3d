import ArgumentParser
import CommandOptions
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

/// `mamfusion bench sgemm`: GFLOP/s of the model's matrix products on every engine and precision,
/// measured in one run (MATMUL.md §4): the Linear layers' three products (x·Wᵀ, dY·W, dYᵀ·X) at
/// TVR sizes, a loss-head tile and an evaluation block. `bench sgemm M N K` measures one
/// row-major C = A·B (`--matmul-engine`, `--precision`; default OpenBLAS fp32, timed like
/// Launch/native/sgemm_bench.c, its C twin) and prints the bare number.
struct SgemmBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sgemm",
                                                    abstract: "GFLOP/s of the model's products on every engine and precision, or of one C[m×n] = A[m×k]·B[k×n].")
    @Argument(help: "M N K of one product (omit for the model's shapes on every engine and precision).") var shape: [Int] = []
    @Option(help: "Timed repetitions (median reported).") var repeats: Int = 7
    @Option(help: "With M N K: fp32 or bf16.") var precision: Precision = .fp32
    @Option(name: .customLong("matmul-engine"), help: "With M N K: openblas or onednn.") var matmulEngine: MatmulEngineKind = .openblas
    @Flag(help: "Print JSON objects (one per product and engine) instead of text.") var json = false

    func validate() throws {
        guard shape.isEmpty || shape.count == 3 else { throw ValidationError("give M N K, or nothing for the model's shapes") }
        for (name, value) in zip(["M", "N", "K"], shape) { try BenchArguments.atLeast(value, 1, option: name) }
        try BenchArguments.atLeast(repeats, 1, option: "--repeats")
        if matmulEngine == .onednn, let reason = OneDNNLibrary.unavailableReason { throw ValidationError("--matmul-engine onednn: \(reason)") }
    }

    /// The products of a TVR step and evaluation (m × n × k; transposes as the layers call them).
    static let modelShapes: [(name: String, m: Int, n: Int, k: Int, transA: Bool, transB: Bool)] = [
        ("frames x·Wᵀ 2628×384×384", 2628, 384, 384, false, true),
        ("frames dY·W 2628×384×384", 2628, 384, 384, false, false),
        ("frames dYᵀ·X 384×384×2628", 384, 384, 2628, true, false),
        ("input proj x·Wᵀ 2628×384×3072", 2628, 384, 3072, false, true),
        ("Mamba in_proj x·Wᵀ 2628×1536×384", 2628, 1536, 384, false, true),
        ("queries x·Wᵀ 4800×384×768", 4800, 384, 768, false, true),
        ("head tile 256×264×384", 256, 264, 384, false, true),
        ("eval block 1000×3200×384", 1000, 3200, 384, false, true),
    ]

    func run() throws {
        if shape.count == 3 {
            let selection = MatrixEngineSelection(engine: matmulEngine, precision: precision)
            let gflops = EngineRate.gflops(selection, m: shape[0], n: shape[1], k: shape[2], transB: false, repeats: repeats)
            if json {
                try printJSONObject(["m": shape[0], "n": shape[1], "k": shape[2], "gflops": gflops, "engine": matmulEngine.rawValue,
                                     "precision": precision.rawValue, "blas_threads": BLAS.threads, "blas_core": BLAS.core])
            } else {
                print(String(format: "%.2f", gflops))
            }
            return
        }
        var selections = [MatrixEngineSelection(engine: .openblas, precision: .fp32), .init(engine: .openblas, precision: .bf16)]
        if OneDNNLibrary.isAvailable { selections += [.init(engine: .onednn, precision: .fp32), .init(engine: .onednn, precision: .bf16)] }
        if !json {
            print("bench sgemm: GFLOP/s, \(BLAS.threads) thread\(BLAS.threads == 1 ? "" : "s"), median of \(repeats); \(EngineRate.cpuFeatures)"
                  + (OneDNNLibrary.isAvailable ? "; oneDNN \(OneDNNLibrary.version) on \(OneDNNLibrary.instructionSet)" : "; oneDNN not installed"))
            print("(openblas bf16 = fp32 OpenBLAS on bf16-rounded operands: the same numbers as bf16 kernels, not their speed)")
            print("product".padding(toLength: 34, withPad: " ", startingAt: 0)
                  + selections.map { $0.description.leftPadded(15) }.joined() + "   ×openblas fp32")
        }
        for s in Self.modelShapes {
            let rates = selections.map { EngineRate.gflops($0, m: s.m, n: s.n, k: s.k, transA: s.transA, transB: s.transB, repeats: repeats) }
            if json {
                for (selection, rate) in zip(selections, rates) {
                    try printJSONObject(["product": s.name, "m": s.m, "n": s.n, "k": s.k, "engine": selection.engine.rawValue,
                                         "precision": selection.precision.rawValue, "gflops": rate, "blas_threads": BLAS.threads])
                }
            } else {
                let ratios = rates.dropFirst(2).map { String(format: "%.2f", $0 / rates[0]) }.joined(separator: " ")
                print(s.name.padding(toLength: 34, withPad: " ", startingAt: 0)
                      + rates.map { String(format: "%.1f", $0).leftPadded(15) }.joined() + "   " + ratios)
            }
        }
    }
}

extension MatmulEngineKind: ExpressibleByArgument {}
