import Foundation
import TensorKit
import TestSupport
import Testing

/// `matmul_engine` and `precision` from the command line: a oneDNN that cannot be loaded is a clear
/// error when asked for and a quiet fall-back to OpenBLAS under `auto`; every engine and precision
/// evaluates (MATMUL.md §2–3).
struct MatrixEngineToolTests {
    /// A library path that cannot exist, so the child cannot load oneDNN.
    static let missingOneDNN = ["MAMFUSION_ONEDNN_LIBRARY": "/nonexistent/libdnnl.so.2"]

    @Test("matmul_engine onednn where oneDNN cannot be loaded: non-zero exit, a message naming the library and the way out, no ranks written")
    func missingLibraryIsAClearError() throws {
        try withTemporaryDirectory { root in
            let flags = try BadInputToolTests.synthesise(root), ranks = root + "/ranks.jsonl"
            let out = try ToolRunner.run(["eval", "--ranks-out", ranks, "--matmul-engine", "onednn"] + flags, environment: Self.missingOneDNN)
            BadInputToolTests.expectFailure(out, ["matmul_engine: onednn", "oneDNN 2.x cannot be loaded", "/nonexistent/libdnnl.so.2",
                                                  "matmul_engine: openblas"], outputs: [ranks])
            let bench = try ToolRunner.run(["bench", "sgemm", "16", "16", "16", "--matmul-engine", "onednn"], environment: Self.missingOneDNN)
            #expect(bench.status != 0 && bench.stderr.contains("oneDNN 2.x cannot be loaded"), "\(bench.stderr)")
        }
    }

    @Test("auto falls back to OpenBLAS where oneDNN cannot be loaded and gives OpenBLAS's ranks; every engine and precision evaluates")
    func autoFallsBack() throws {
        try withTemporaryDirectory { root in
            let flags = try BadInputToolTests.synthesise(root)
            func ranks(_ name: String, _ extra: [String], environment: [String: String] = [:]) throws -> String {
                let path = "\(root)/\(name).jsonl"
                let out = try ToolRunner.run(["eval", "--ranks-out", path] + extra + flags, environment: environment)
                #expect(out.status == 0, "\(name): \(out.stderr)")
                return (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            }
            let fallback = try ranks("auto-without-onednn", [], environment: Self.missingOneDNN)
            let openBLAS = try ranks("openblas", ["--matmul-engine", "openblas"])
            #expect(!fallback.isEmpty && fallback == openBLAS)
            // bf16 through both engines: both evaluate every query (the scores differ from fp32 by
            // bf16's rounding; issue "exact bf16 evaluation" makes the ranks exact).
            for engine in ["openblas"] + (OneDNNLibrary.isAvailable ? ["onednn"] : []) {
                let bf16 = try ranks("bf16-\(engine)", ["--matmul-engine", engine, "--precision", "bf16"])
                #expect(bf16.split(separator: "\n").count == openBLAS.split(separator: "\n").count, "\(engine) bf16")
            }
        }
    }
}
