import Foundation
import TestSupport
import Testing
@testable import MamFusion

/// `mamfusion export` and `Launch/convert-reference-checkpoint` for MUSE (`MUSEReference`): the
/// official names and shapes, the frozen pyramid as an extra (or left out and drawn again from a
/// configuration's seed), official-style files with CLIP tensors, and bad files. The round trip
/// with the pyramid, the safetensors package and `--pth` run in `ExportCommandTests` for every model.
@Suite(.serialized)
struct MUSEExportTests {
    /// The head's state_dict at the reference sizes (W 512, d_state 16, d_conv 4, expand 1, dt_rank
    /// ceil(512/16) = 32, 4 blocks), written out from the official code (hrtang22/MUSE c8e44bc,
    /// modules/modeling.py `Mamba_head`, and Vim's mamba_simple.py `Mamba(bimamba_type="v2")`):
    /// a module's own parameters (A_log, D, A_b_log, D_b) come before its sub-modules (in_proj,
    /// conv1d, x_proj, dt_proj, conv1d_b, x_proj_b, dt_proj_b, out_proj), then the block's
    /// layer_norm1 and temporal_fc.
    static let officialHead: [(String, [Int])] = (0..<4).flatMap { i -> [(String, [Int])] in
        let p = "MS_mamba.\(i)."
        return [
            (p + "mamba.A_log", [512, 16]), (p + "mamba.D", [512]), (p + "mamba.A_b_log", [512, 16]), (p + "mamba.D_b", [512]),
            (p + "mamba.in_proj.weight", [1024, 512]),
            (p + "mamba.conv1d.weight", [512, 1, 4]), (p + "mamba.conv1d.bias", [512]),
            (p + "mamba.x_proj.weight", [64, 512]), (p + "mamba.dt_proj.weight", [512, 32]), (p + "mamba.dt_proj.bias", [512]),
            (p + "mamba.conv1d_b.weight", [512, 1, 4]), (p + "mamba.conv1d_b.bias", [512]),
            (p + "mamba.x_proj_b.weight", [64, 512]), (p + "mamba.dt_proj_b.weight", [512, 32]), (p + "mamba.dt_proj_b.bias", [512]),
            (p + "mamba.out_proj.weight", [512, 512]),
            (p + "layer_norm1.weight", [512]), (p + "layer_norm1.bias", [512]),
            (p + "temporal_fc.weight", [512, 512]), (p + "temporal_fc.bias", [512]),
        ]
    }

    /// The pyramid under the names `self.mamba_stages = nn.ModuleList(...)` would give the official
    /// `nn.Sequential`s (scales ½, 1, 2): [MaxPool, Conv1×1, LN, GELU, Conv3×3, LN],
    /// [Conv1×1, LN, GELU, Conv3×3, LN], [ConvTranspose2d(W, W/2, 2, 2), Conv1×1, LN, GELU, Conv3×3, LN].
    static let pyramid: [(String, [Int])] = [
        ("mamba_stages.0.1.weight", [512, 512, 1, 1]), ("mamba_stages.0.1.bias", [512]),
        ("mamba_stages.0.2.weight", [512]), ("mamba_stages.0.2.bias", [512]),
        ("mamba_stages.0.4.weight", [512, 512, 3, 3]), ("mamba_stages.0.4.bias", [512]),
        ("mamba_stages.0.5.weight", [512]), ("mamba_stages.0.5.bias", [512]),
        ("mamba_stages.1.0.weight", [512, 512, 1, 1]), ("mamba_stages.1.0.bias", [512]),
        ("mamba_stages.1.1.weight", [512]), ("mamba_stages.1.1.bias", [512]),
        ("mamba_stages.1.3.weight", [512, 512, 3, 3]), ("mamba_stages.1.3.bias", [512]),
        ("mamba_stages.1.4.weight", [512]), ("mamba_stages.1.4.bias", [512]),
        ("mamba_stages.2.0.weight", [512, 256, 2, 2]), ("mamba_stages.2.0.bias", [256]),
        ("mamba_stages.2.1.weight", [512, 256, 1, 1]), ("mamba_stages.2.1.bias", [512]),
        ("mamba_stages.2.2.weight", [512]), ("mamba_stages.2.2.bias", [512]),
        ("mamba_stages.2.4.weight", [512, 512, 3, 3]), ("mamba_stages.2.4.bias", [512]),
        ("mamba_stages.2.5.weight", [512]), ("mamba_stages.2.5.bias", [512]),
    ]

    /// A small MUSE (2 blocks, W 32, 3×3 patches, d_state 4) as a configuration file's text.
    static func smallConfiguration(seed: Int = 77) -> String {
        "model: muse\nhidden_size: 32\nmuse_grid: 3\nmuse_blocks: 2\nmuse_d_state: 4\nseed: \(seed)\n"
    }

    /// `init` of `smallConfiguration()` in `dir`: the checkpoint, its configuration file and parameters.
    static func smallCheckpoint(in dir: String) throws -> (path: String, config: String, parameters: ParameterSet) {
        let config = dir + "/muse.yaml", path = dir + "/muse.h5"
        try smallConfiguration().write(toFile: config, atomically: true, encoding: .utf8)
        let run = try ToolRunner.run(["init", "--config", config, "--out", path])
        #expect(run.status == 0, "\(run.stderr)")
        let parameters = ParameterSet(layout: try RunConfiguration.parse(yaml: smallConfiguration()).parameterLayout)
        try Checkpoint.read(from: path, into: parameters)
        return (path, config, parameters)
    }

    /// The tensor names and shapes of a safetensors file, in data order, and its metadata.
    static func contents(_ path: String) throws -> (tensors: [(String, [Int])], metadata: [String: String]) {
        var header = try ExportCommandTests.safetensors(path).header
        let metadata = header.removeValue(forKey: "__metadata__") as? [String: String] ?? [:]
        let entries = try header.map { name, value -> (String, [Int], Int) in
            let entry = try #require(value as? [String: Any])
            return (name, try #require(entry["shape"] as? [Int]), try #require((entry["data_offsets"] as? [Int])?.first))
        }
        return (entries.sorted { $0.2 < $1.2 }.map { ($0.0, $0.1) }, metadata)
    }

    @Test("export at the reference sizes: the official head's names, shapes and order, then the pyramid as mamba_stages.* (named in the metadata); --official-only writes the head alone")
    func officialNames() throws {
        try withTemporaryDirectory { dir in
            let config = PythonRunner.repository.appendingPathComponent("Configs/muse-msrvtt.yaml").path
            #expect(try ToolRunner.run(["init", "--config", config, "--out", dir + "/ref.h5"]).status == 0)
            let full = try ToolRunner.run(["export", "--checkpoint", dir + "/ref.h5", "--out", dir + "/full.safetensors"])
            #expect(full.status == 0, "\(full.stderr)")
            #expect(full.stdout.contains("MUSE, 106 tensors, 12,954,880 parameters") && full.stdout.contains("26 not in the official state_dict: mamba_stages.*"),
                    "\(full.stdout)")
            let (tensors, metadata) = try Self.contents(dir + "/full.safetensors")
            #expect(tensors.map(\.0) == (Self.officialHead + Self.pyramid).map(\.0))
            #expect(tensors.map(\.1) == (Self.officialHead + Self.pyramid).map(\.1))
            #expect(metadata["model"] == "muse" && metadata["format"] == "pt")
            #expect(metadata["extra_tensors"]?.hasPrefix("mamba_stages.*") == true, "\(metadata)")

            let head = try ToolRunner.run(["export", "--checkpoint", dir + "/ref.h5", "--out", dir + "/head.safetensors", "--official-only"])
            #expect(head.status == 0, "\(head.stderr)")
            #expect(head.stdout.contains("MUSE, 80 tensors, 4,687,872 parameters"), "\(head.stdout)")
            let official = try Self.contents(dir + "/head.safetensors")
            #expect(official.tensors.map(\.0) == Self.officialHead.map(\.0))
            #expect(official.tensors.map(\.1) == Self.officialHead.map(\.1))
            #expect(official.metadata["extra_tensors"] == nil)
        }
    }

    @Test("--official-only, then convert: without a configuration a clear error and nothing written; with it, the pyramid drawn from its seed gives back the checkpoint bit for bit (another seed: the same head, another pyramid)",
          .enabled(if: PythonRunner.has("numpy", "h5py"), "needs Python with numpy and h5py (MAMFUSION_PYTHON or python3)"))
    func roundTripWithoutPyramid() throws {
        try withTemporaryDirectory { dir in
            let (path, config, parameters) = try Self.smallCheckpoint(in: dir)
            let export = try ToolRunner.run(["export", "--checkpoint", path, "--out", dir + "/head.safetensors", "--official-only"])
            #expect(export.status == 0, "\(export.stderr)")

            let bare = try ExportCommandTests.convert([dir + "/head.safetensors", dir + "/back.h5"])
            #expect(bare.status != 0)
            #expect(bare.stderr.contains("holds no token pyramid (mamba_stages.*)") && bare.stderr.contains("--config"), "\(bare.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/back.h5"))

            try ExportCommandTests.expectConverts(dir + "/head.safetensors", ["--config", config], to: parameters, noting: "drawn from the seed of \(config)")

            let other = dir + "/seed78.yaml"
            try Self.smallConfiguration(seed: 78).write(toFile: other, atomically: true, encoding: .utf8)
            #expect(try ExportCommandTests.convert([dir + "/head.safetensors", dir + "/other.h5", "--config", other]).status == 0)
            let reseeded = ParameterSet(layout: parameters.layout)
            try Checkpoint.read(from: dir + "/other.h5", into: reseeded)
            for spec in parameters.layout.specs {  // the pyramid's LayerNorms are 1 and 0 whatever the seed
                let same = Array(reseeded.tensor(spec).buffer) == Array(parameters.tensor(spec).buffer)
                let drawn = spec.kind == .convolution2DWeight || spec.kind == .convolution2DBias
                #expect(same == !(MUSEReference.format.isExtra(spec.name) && drawn), "\(spec.name)")
            }
        }
    }

    /// Exports `checkpoint` into `dir` as head.safetensors (`--official-only`) and
    /// full.safetensors, then runs `program` (Python with numpy and safetensors) with them loaded
    /// as `head` and `full` and `arguments` from argv[3].
    static func craft(_ program: String, from checkpoint: String, in dir: String, _ arguments: [String]) throws {
        #expect(try ToolRunner.run(["export", "--checkpoint", checkpoint, "--out", dir + "/head.safetensors", "--official-only"]).status == 0)
        #expect(try ToolRunner.run(["export", "--checkpoint", checkpoint, "--out", dir + "/full.safetensors"]).status == 0)
        let run = try PythonRunner.run(["-c", """
            import sys
            import numpy as np
            from safetensors.numpy import load_file, save_file
            head, full = load_file(sys.argv[1]), load_file(sys.argv[2])
            """ + "\n" + program, dir + "/head.safetensors", dir + "/full.safetensors"] + arguments)
        #expect(run.status == 0, "\(run.stderr)")
    }

    @Test("an official-style state_dict with CLIP tensors (float16) and no pyramid converts: CLIP dropped with a note, the head bit for bit",
          .enabled(if: PythonRunner.has("numpy", "h5py", "safetensors"), "needs Python with numpy, h5py and safetensors"))
    func officialStyleFile() throws {
        try withTemporaryDirectory { dir in
            let (path, config, parameters) = try Self.smallCheckpoint(in: dir)
            try Self.craft("""
                state = {"clip.visual.proj": np.ones((8, 32), dtype=np.float16), "clip.logit_scale": np.array(4.6, dtype=np.float32)}
                state.update(head)
                save_file(state, sys.argv[3])
                """, from: path, in: dir, [dir + "/official.safetensors"])
            try ExportCommandTests.expectConverts(dir + "/official.safetensors", ["--config", config], to: parameters, noting: "dropped the 2 CLIP tensors (clip.*)")
        }
    }

    @Test("convert refuses, naming file and tensor, and writes nothing: a missing head tensor, a missing pyramid tensor (never redrawn when the file has a pyramid), a transposed tensor, an unknown tensor, another model's configuration",
          .enabled(if: PythonRunner.has("numpy", "h5py", "safetensors"), "needs Python with numpy, h5py and safetensors"))
    func convertBadInput() throws {
        try withTemporaryDirectory { dir in
            let (path, config, _) = try Self.smallCheckpoint(in: dir)
            try Self.craft("""
                out = sys.argv[3]
                save_file({k: v for k, v in head.items() if k != "MS_mamba.1.temporal_fc.bias"}, out + "/missing.safetensors")
                save_file({k: v for k, v in full.items() if k != "mamba_stages.2.0.bias"}, out + "/pyramid.safetensors")
                save_file({k: (np.ascontiguousarray(v.T) if k == "MS_mamba.0.mamba.x_proj.weight" else v) for k, v in head.items()}, out + "/transposed.safetensors")
                save_file(dict(head, **{"MS_mamba.2.temporal_fc.bias": np.zeros(32, dtype=np.float32)}), out + "/unknown.safetensors")
                """, from: path, in: dir, [dir])
            let gmmformer = dir + "/gmmformer.yaml"
            try "model: gmmformer\nhidden_size: 32\nn_heads: 4\n".write(toFile: gmmformer, atomically: true, encoding: .utf8)
            let cases: [(file: String, config: String, message: String)] = [
                ("missing", config, "MS_mamba.1.temporal_fc.bias: missing (expected shape [32])"),
                ("pyramid", config, "mamba_stages.2.0.bias: missing (expected shape [16])"),
                ("transposed", config, "MS_mamba.0.mamba.x_proj.weight: shape [32, 10], expected [10, 32]"),
                ("unknown", config, "MS_mamba.2.temporal_fc.bias: not a tensor of the configured MUSE"),
                ("missing", gmmformer, "the configuration's model is gmmformer"),
            ]
            for c in cases {
                let file = dir + "/\(c.file).safetensors", out = dir + "/\(c.file).h5"
                let run = try ExportCommandTests.convert([file, out, "--config", c.config])
                #expect(run.status != 0, "\(c.file)")
                #expect(run.stderr.contains(c.message), "\(c.file): \(run.stderr)")
                #expect(run.stderr.contains(c.file == "missing" && c.config == gmmformer ? gmmformer : file), "\(c.file): \(run.stderr)")
                #expect(!FileManager.default.fileExists(atPath: out) && !FileManager.default.fileExists(atPath: out + ".tmp"), "\(c.file)")
            }
        }
    }

    @Test("export refuses a MUSE checkpoint with a missing or misshapen tensor, naming each, and writes nothing")
    func exportBadInput() throws {
        try withTemporaryDirectory { dir in
            let c = try RunConfiguration.parse(yaml: Self.smallConfiguration())
            let layout = c.parameterLayout
            var b = ParameterLayout.Builder(group: .unused)
            for spec in layout.specs where spec.name != "MS_mamba.1.temporal_fc.bias" {
                b.group = spec.group
                b.tensor(spec.name, spec.name == "MS_mamba.0.mamba.x_proj.weight" ? spec.shape.reversed() : spec.shape, spec.kind)
            }
            let damaged = ParameterSet(layout: b.layout(model: "muse", groups: layout.groups))
            try Checkpoint.write(to: dir + "/bad.h5", parameters: damaged, state: TrainingState(), configurationYAML: c.yaml)
            let run = try ToolRunner.run(["export", "--checkpoint", dir + "/bad.h5", "--out", dir + "/bad.safetensors"])
            #expect(run.status != 0)
            #expect(run.stderr.contains("bad.h5") && run.stderr.contains("/model/MS_mamba.1.temporal_fc.bias: missing (expected shape 32)")
                    && run.stderr.contains("/model/MS_mamba.0.mamba.x_proj.weight: shape 32x10, expected 10x32"), "\(run.stderr)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["bad.h5"], "nothing written")
        }
    }
}
