import Foundation
import HDF5Kit
import TestSupport
import Testing
@testable import MamFusion

/// The model commands, run as a user runs them.
struct ModelCommandTests {
    static var repository: URL { URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent() }

    @Test("model-info prints the reference totals for the shipped configurations of both models",
          arguments: [("tvr", "18,372,480"), ("activitynet", "16,693,632"), ("charades", "17,283,456"),
                      ("gmmformer-tvr", "12,848,256"), ("gmmformer-activitynet", "11,366,016"), ("gmmformer-charades", "11,366,016")])
    func modelInfo(file: String, total: String) throws {
        let gmmFormer = file.hasPrefix("gmmformer")
        let out = try ToolRunner.run(["model-info", "--config", Self.repository.appendingPathComponent("Configs/\(file).yaml").path])
        #expect(out.status == 0, "\(out.stderr)")
        #expect(out.stdout.contains(gmmFormer ? "model: gmmformer (GMMFormer)" : "model: mamfusion (MamFusion)"))
        #expect(out.stdout.contains(gmmFormer ? "tensors: 193" : "tensors: 249"))
        #expect(out.stdout.contains("parameters: \(total) (trainable "), "\(file)")
        // GMMFormer: no Mamba unit, no fusion module, so nothing untrained either.
        #expect(out.stdout.contains("clip_encoder_mamba.0.A_log") == !gmmFormer && out.stdout.contains("_fusion.") == !gmmFormer)
        #expect(out.stdout.contains("(trainable \(total))") == gmmFormer)
    }

    @Test("model-info of MUSE's reference configuration: 4,687,872 trained and 8,267,008 frozen pyramid parameters; trained with muse_train_pyramid")
    func museModelInfo() throws {
        let file = Self.repository.appendingPathComponent("Configs/muse-msrvtt.yaml").path
        let out = try ToolRunner.run(["model-info", "--config", file])
        #expect(out.status == 0, "\(out.stderr)")
        #expect(out.stdout.contains("model: muse (MUSE)") && out.stdout.contains("tensors: 106"))
        #expect(out.stdout.contains("parameters: 12,954,880 (trainable 4,687,872, never updated 8,267,008)"), "\(out.stdout)")
        #expect(out.stdout.contains("groups (backward order): block3 1,171,968, block2 1,171,968, block1 1,171,968, block0 1,171,968, unused 8,267,008"))
        #expect(out.stdout.contains("MS_mamba.0.mamba.A_b_log") && out.stdout.contains("mamba_stages.2.0.weight"))
        let trained = try ToolRunner.run(["model-info", "--config", file, "--set", "muse_train_pyramid=true"])
        #expect(trained.stdout.contains("parameters: 12,954,880 (trainable 12,954,880)") && trained.stdout.contains("pyramid 8,267,008"))
    }

    @Test("the shipped tool lists no test-only command; the test-support tool holds them")
    func noTestCommandsShipped() throws {
        let help = try ToolRunner.run(["--help"])
        #expect(help.status == 0)
        for command in ["selftest", "head-check"] { #expect(!help.stdout.contains(command), "mamfusion --help lists \(command)") }
        for command in ["selftest", "selftest-io", "selftest-eval", "selftest-data"] {
            #expect(try ToolRunner.run([command]).status != 0, "mamfusion still runs \(command)")
        }
        let support = try ToolRunner.run(["--help"], program: .testSupport)
        #expect(support.status == 0 && support.stdout.contains("head-check") && support.stdout.contains("selftest-data"))
    }

    @Test("model-info names an unknown key and exits non-zero")
    func badKey() throws {
        let out = try ToolRunner.run(["model-info", "--set", "hiden_size=3"])
        #expect(out.status != 0)
        #expect(out.stderr.contains("key 'hiden_size': unknown key"))
    }

    @Test("init writes a loadable checkpoint that is a pure function of the seed")
    func initialize() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mamfusion-init-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let small = ["--set", "hidden_size=32", "--set", "n_heads=4", "--set", "visual_feat_dim=24", "--set", "q_feat_size=16", "--set", "max_ctx_l=40"]
        let a = dir.appendingPathComponent("a.h5").path, b = dir.appendingPathComponent("b.h5").path
        for path in [a, b] {
            let out = try ToolRunner.run(["init", "--out", path] + small)
            #expect(out.status == 0, "\(out.stderr)")
        }
        var c = RunConfiguration()
        try c.apply(overrides: ["hidden_size=32", "n_heads=4", "visual_feat_dim=24", "q_feat_size=16", "max_ctx_l=40"])
        let pa = ParameterSet(layout: .mamFusion(c.dimensions)), pb = ParameterSet(layout: .mamFusion(c.dimensions))
        let (state, yaml, _) = try Checkpoint.read(from: a, into: pa)
        try Checkpoint.read(from: b, into: pb)
        #expect(pa.storage.buffer.elementsEqual(pb.storage.buffer))
        #expect(state.seed == 9527 && state.step == 0)
        #expect(try RunConfiguration.parse(yaml: yaml ?? "") == c)
        let expected = ParameterSet(layout: pa.layout)
        ParameterInitializer.initialize(expected, seed: 9527)
        #expect(pa.storage.buffer.elementsEqual(expected.storage.buffer))
    }

    /// A run directory with a configuration and metrics records: `steps` step records with a
    /// decreasing loss, and one validation record per epoch with the given SumR values.
    static func writeRun(_ directory: URL, model: String, sumR: [Double]) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var c = RunConfiguration()
        try c.set("model", yaml: model)
        try c.yaml.write(to: directory.appendingPathComponent("config.yaml"), atomically: true, encoding: .utf8)
        var lines: [String] = []
        for step in 0..<20 { lines.append(#"{"type":"step","step":\#(step),"loss":\#(2.0 - 0.05 * Double(step)),"qdl":0.01}"#) }
        for (epoch, value) in sumR.enumerated() {
            lines.append(#"{"type":"validation","epoch":\#(epoch),"r1":1,"r5":2,"r10":3,"r100":4,"sumr":\#(value)}"#)
        }
        try (lines.joined(separator: "\n") + "\n").write(to: directory.appendingPathComponent("metrics.jsonl"), atomically: true, encoding: .utf8)
    }

    @Test("plot overlays two run directories on one figure with the given labels; one directory keeps its own plot")
    func plotOverlay() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mamfusion-plot-\(UUID().uuidString)")
        let a = dir.appendingPathComponent("baseline"), b = dir.appendingPathComponent("demo")
        try Self.writeRun(a, model: "gmmformer", sumR: [10, 50, 80.4])
        try Self.writeRun(b, model: "mamfusion", sumR: [12, 60, 90.5, 88])
        let svg = dir.appendingPathComponent("compare.svg").path
        let out = try ToolRunner.run(["plot", a.path, b.path, "--labels", "gmmformer,mamfusion", "--out", svg])
        #expect(out.status == 0, "\(out.stderr)")
        let text = try String(contentsOfFile: svg, encoding: .utf8)
        #expect(text.contains("gmmformer (best 80.4, epoch 2)"))
        #expect(text.contains("mamfusion (best 90.5, epoch 2)"))
        #expect(text.contains("validation SumR") && text.contains("training loss (total)"))
        #expect(text.components(separatedBy: "<polyline").count - 1 == 4, "a loss and a SumR curve per run")

        // Default labels: the directory and the model of its config.yaml.
        let defaults = try ToolRunner.run(["plot", a.path, b.path, "--out", svg])
        #expect(defaults.status == 0, "\(defaults.stderr)")
        let labelled = try String(contentsOfFile: svg, encoding: .utf8)
        #expect(labelled.contains("baseline (gmmformer)") && labelled.contains("demo (mamfusion)"))

        let mismatch = try ToolRunner.run(["plot", a.path, b.path, "--labels", "only-one"])
        #expect(mismatch.status != 0 && mismatch.stderr.contains("--labels has 1 labels for 2 run directories"))
        let single = try ToolRunner.run(["plot", a.path])
        #expect(single.status == 0, "\(single.stderr)")
        #expect(FileManager.default.fileExists(atPath: a.appendingPathComponent("metrics.svg").path))
    }
}
