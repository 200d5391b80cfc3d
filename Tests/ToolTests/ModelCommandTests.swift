import Foundation
import HDF5Kit
import TestSupport
import Testing
@testable import MamFusion

/// The model commands, run as a user runs them.
struct ModelCommandTests {
    static var repository: URL { URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent() }

    @Test("model-info prints the reference totals for the shipped configurations")
    func modelInfo() throws {
        for (file, total) in [("tvr", "18,372,480"), ("activitynet", "16,693,632"), ("charades", "17,283,456")] {
            let out = try ToolRunner.run(["model-info", "--config", Self.repository.appendingPathComponent("Configs/\(file).yaml").path])
            #expect(out.status == 0, "\(out.stderr)")
            #expect(out.stdout.contains("tensors: 249"))
            #expect(out.stdout.contains("parameters: \(total)"), "\(file)")
            #expect(out.stdout.contains("clip_encoder_mamba.0.A_log"))
        }
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
}
