import Foundation
import HDF5Kit
import TestSupport
import Testing
@testable import MamFusion

/// Bad inputs found by adversarial testing, run through the tool as a user would. Each
/// test builds the bad file, runs `mamfusion`, and checks the error text (the file, key or tensor
/// is named), the exit status, and that no output file was written.
@Suite(.serialized)
struct BadInputToolTests {
    /// A small configuration matching the synthetic data below (Dv 16, Dq 8).
    static let small = ["--set", "hidden_size=32", "--set", "n_heads=4", "--set", "visual_feat_dim=16", "--set", "q_feat_size=8",
                        "--set", "max_ctx_l=16", "--set", "map_size=4", "--set", "collection=synthetic", "--set", "visual_feature=synthetic"]

    static var smallConfiguration: RunConfiguration {
        var c = RunConfiguration()
        try! c.apply(overrides: ["hidden_size=32", "n_heads=4", "visual_feat_dim=16", "q_feat_size=8", "max_ctx_l=16", "map_size=4"])
        return c
    }

    /// A synthetic release-layout collection under `root/data`; returns the configuration flags
    /// pointing at it.
    static func synthesise(_ root: String) throws -> [String] {
        let out = try ToolRunner.run(["synth", "--out", "\(root)/data", "--videos", "6", "--dv", "16", "--dq", "8", "--frames", "4..10"])
        try #require(out.status == 0, "\(out.stderr)")
        return small + ["--set", "data_root=\(root)/data"]
    }

    static func captionFile(_ root: String, _ split: String = "test") -> String { "\(root)/data/synthetic/TextData/synthetic\(split).caption.txt" }
    static func featureFolder(_ root: String) -> String { "\(root)/data/synthetic/FeatureData/synthetic" }
    static func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    /// Checks a failed run: exit `status`, every `fragments` in standard error, a short message
    /// (errors quote excerpts), and `outputs` not created.
    static func expectFailure(_ out: ToolRunner.Output, status: Int32 = 1, _ fragments: [String], outputs: [String] = [],
                              sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!out.timedOut, "the command hung", sourceLocation: sourceLocation)
        #expect(out.status == status, "exit \(out.status); stderr: \(out.stderr.prefix(2000))", sourceLocation: sourceLocation)
        for fragment in fragments {
            #expect(out.stderr.contains(fragment), "missing '\(fragment)' in: \(out.stderr.prefix(2000))", sourceLocation: sourceLocation)
        }
        #expect(out.stderr.utf8.count < 4096, "error output of \(out.stderr.utf8.count) bytes", sourceLocation: sourceLocation)
        for path in outputs {
            #expect(!exists(path), "\(path) was written", sourceLocation: sourceLocation)
        }
    }

    /// Writes a checkpoint of `config`'s layout whose tensors hold `value(spec)` values of the
    /// given stored type (float32 unless `type` says otherwise).
    static func writeCheckpoint(_ path: String, config: RunConfiguration,
                                type: (ParameterSpec) -> HDF5ScalarType = { _ in .float32 },
                                values: (ParameterSpec) -> [Double]) throws {
        let layout = ParameterLayout.mamFusion(config.dimensions)
        let file = try HDF5File.create(path)
        do {  // groups and datasets are released before the file is closed
            let model = try file.createGroup("model")
            for spec in layout.specs {
                let dataset = try model.createDataset(spec.name, type: type(spec), shape: spec.shape)
                let v = values(spec)
                switch type(spec) {
                case .int32, .int64: try dataset.write(v.map { Int64($0) })
                default: try dataset.write(v)
                }
            }
        }
        try file.close()
    }

    // MARK: 1. Non-finite and non-float32 checkpoints

    @Test("a checkpoint with a NaN tensor is refused naming the tensor and the first index; no ranks are written")
    func nanCheckpoint() throws {
        try withTemporaryDirectory { root in
            let flags = try Self.synthesise(root)
            let checkpoint = root + "/nan.h5", ranks = root + "/ranks.jsonl"
            try Self.writeCheckpoint(checkpoint, config: Self.smallConfiguration) { spec in
                var v = [Double](repeating: 0.01, count: spec.count)
                if spec.name == "clip_input_proj.net.1.weight" { v[37] = .nan }
                return v
            }
            let out = try ToolRunner.run(["eval", "--checkpoint", checkpoint, "--ranks-out", ranks] + flags)
            Self.expectFailure(out, ["checkpoint \(checkpoint)", "/model/clip_input_proj.net.1.weight: non-finite value nan at index 37 ([2, 5])"],
                               outputs: [ranks])
            #expect(!out.stdout.contains("R@1"))
        }
    }

    @Test("a checkpoint whose every tensor is ±Inf is refused, listing the tensors")
    func infCheckpoint() throws {
        try withTemporaryDirectory { root in
            let flags = try Self.synthesise(root)
            let checkpoint = root + "/inf.h5", ranks = root + "/ranks.jsonl"
            try Self.writeCheckpoint(checkpoint, config: Self.smallConfiguration) { spec in [Double](repeating: -.infinity, count: spec.count) }
            let out = try ToolRunner.run(["eval", "--checkpoint", checkpoint, "--ranks-out", ranks] + flags)
            let tensors = ParameterLayout.mamFusion(Self.smallConfiguration.dimensions).specs.count
            Self.expectFailure(out, ["\(tensors) problems", "/model/query_pos_embed.position_embeddings.weight: non-finite value -inf at index 0",
                                     "… and \(tensors - 20) more"], outputs: [ranks])
        }
    }

    @Test("float64 and integer tensors load with a note when exact (printed once, on 2 ranks), and are refused naming the value when not")
    func convertedCheckpoints() throws {
        try withTemporaryDirectory { root in
            let flags = try Self.synthesise(root)
            let target = "frame_input_proj.net.1.weight"
            let cases: [(HDF5ScalarType, Double, String?)] = [
                (.float64, 0.25, nil), (.float64, 0.1, "float64 value 0.1 at index 511 ([31, 15]) is not exactly representable in float32 (it would become 0.10000000149011612)"),
                (.int32, 3, nil), (.int64, 16_777_217, "integer value 16777217 at index 511 ([31, 15]) is beyond ±2^24"),
            ]
            for (type, value, refusal) in cases {
                let checkpoint = root + "/c-\(type)-\(value).h5", ranks = root + "/r-\(type)-\(value).jsonl"
                try Self.writeCheckpoint(checkpoint, config: Self.smallConfiguration, type: { $0.name == target ? type : .float32 }) { spec in
                    var v = [Double](repeating: 0, count: spec.count)
                    if spec.name == target { v[spec.count - 1] = value }
                    return v
                }
                let out = try ToolRunner.run(["eval", "--checkpoint", checkpoint, "--ranks-out", ranks] + flags, ranks: refusal == nil ? 2 : nil)
                if let refusal {
                    Self.expectFailure(out, ["/model/\(target): \(refusal)"], outputs: [ranks])
                } else {
                    #expect(out.status == 0, "\(out.stderr)")
                    let note = "note: checkpoint \(checkpoint): 1 tensor stored as \(type) converted to float32 (every value exact): /model/\(target)"
                    #expect(out.stderr.components(separatedBy: note).count - 1 == 1, "the note once, not once per rank: \(out.stderr)")
                    #expect(Self.exists(ranks))
                }
            }
        }
    }

    // MARK: 2. Sizes in data files

    @Test("shape.txt with N = 0 and D = 2^61 or 2^62 is an error naming shape.txt, also with --scan-values and convert",
          arguments: ["2305843009213693952", "4611686018427387904"])
    func hugeShape(d: String) throws {
        try withTemporaryDirectory { root in
            _ = try Self.synthesise(root)
            let folder = Self.featureFolder(root)
            try "0 \(d)\n".write(toFile: folder + "/shape.txt", atomically: true, encoding: .utf8)
            try Data().write(to: URL(fileURLWithPath: folder + "/feature.bin"))
            try Data().write(to: URL(fileURLWithPath: folder + "/id.txt"))
            let inspect = try ToolRunner.run(["inspect", root + "/data/synthetic", "--scan-values"])
            Self.expectFailure(inspect, ["\(folder)/shape.txt:1: malformed shape.txt: D = \(d): larger than the maximum of 1048576"])
            let packed = root + "/packed.h5"
            let convert = try ToolRunner.run(["convert", "--from", root + "/data", "--collection", "synthetic", "--out", packed])
            Self.expectFailure(convert, ["shape.txt:1", "D = \(d): larger than the maximum of 1048576"], outputs: [packed, packed + ".tmp"])
        }
    }

    @Test("a packed file whose dv attribute is 2^62 is an error naming the attribute")
    func hugePackedDimension() throws {
        try withTemporaryDirectory { root in
            let packed = root + "/p.h5"
            let out = try ToolRunner.run(["synth", "--out", packed, "--layout", "packed", "--videos", "4", "--dv", "16", "--dq", "8"])
            try #require(out.status == 0, "\(out.stderr)")
            let file = try HDF5File.open(packed, mode: .readWrite)
            try file.setAttribute("dv", .int64(1 << 62))
            try file.close()
            let inspect = try ToolRunner.run(["inspect", packed, "--scan-values"])
            Self.expectFailure(inspect, ["\(packed): attributes 'dv', 'dq': dv = 4611686018427387904: larger than the maximum of 1048576"])
        }
    }

    // MARK: 3. Model sizes in the configuration

    @Test("model-size keys are bounded: an error naming the key, and no checkpoint written", arguments: [
        ("hidden_size=4611686018427387904", "key 'hidden_size': must be ≤ 8192 (the documented maximum), got 4611686018427387904"),
        ("hidden_size=1048576", "key 'hidden_size': must be ≤ 8192"),
        ("visual_feat_dim=4611686018427387904", "key 'visual_feat_dim': must be ≤ 1048576"),
        ("max_ctx_l=4611686018427387904", "key 'max_ctx_l': must be ≤ 16384"),
        ("q_feat_size=-3", "key 'q_feat_size': must be ≥ 1, got -3"),
        ("batchsize=99999999999", "key 'batchsize': must be ≤ 65536"),
        ("gradient_bucket_mib=4611686018427387904", "key 'gradient_bucket_mib': must be ≤ 4096"),
    ])
    func boundedKeys(setting: String, message: String) throws {
        try withTemporaryDirectory { root in
            let out = root + "/init.h5"
            let run = try ToolRunner.run(["init", "--out", out, "--set", "n_heads=1", "--set", setting])
            Self.expectFailure(run, [message], outputs: [out, out + ".tmp"])
        }
    }

    @Test("a model over the parameter maximum is refused before anything is allocated")
    func tooManyParameters() throws {
        try withTemporaryDirectory { root in
            let out = root + "/init.h5"
            let run = try ToolRunner.run(["init", "--out", out, "--set", "hidden_size=8192", "--set", "visual_feat_dim=1048576"])
            Self.expectFailure(run, ["key 'hidden_size': the model would have more than 1073741824 parameters"], outputs: [out])
        }
    }

    // MARK: 4. Long lines

    @Test("a caption file that is one huge line fails at once with an excerpt, whatever its size",
          arguments: [900 << 20, 2 << 30])
    func hugeCaptionLine(bytes: Int) throws {
        try withTemporaryDirectory { root in
            let flags = try Self.synthesise(root)
            let caption = Self.captionFile(root), ranks = root + "/ranks.jsonl"
            // A sparse file (its size without the disk space): a cap_id, then zero bytes and no
            // line break. Under the 1 GiB file maximum the reader stops at the 64 KiB line
            // maximum; over it, the size alone is refused. Neither buffers the line.
            try FileManager.default.removeItem(atPath: caption)
            FileManager.default.createFile(atPath: caption, contents: Data("vid0#enc#0 ".utf8))
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: caption))
            try handle.truncate(atOffset: UInt64(bytes))
            try handle.close()
            let out = try ToolRunner.run(["eval", "--ranks-out", ranks] + flags, timeout: 60)
            if bytes > 1 << 30 {
                Self.expectFailure(out, ["\(caption): \(bytes) bytes: larger than the maximum of 1073741824 bytes for a caption file"], outputs: [ranks])
            } else {
                Self.expectFailure(out, ["\(caption):1: line longer than the maximum of 65536 bytes", "'vid0#enc#0 \\x00\\x00"], outputs: [ranks])
            }
        }
    }

    // MARK: 5. Files that are not regular files

    @Test("a FIFO where a caption file, a configuration or a checkpoint should be is refused at once", arguments: ["caption", "config", "checkpoint"])
    func fifo(which: String) throws {
        try withTemporaryDirectory { root in
            let flags = try Self.synthesise(root)
            let ranks = root + "/ranks.jsonl"
            let fifo = which == "caption" ? Self.captionFile(root) : root + "/fifo"
            if which == "caption" { try FileManager.default.removeItem(atPath: fifo) }
            #expect(mkfifo(fifo, 0o644) == 0)
            let extra = which == "config" ? ["--config", fifo] : which == "checkpoint" ? ["--checkpoint", fifo] : []
            let out = try ToolRunner.run(["eval", "--ranks-out", ranks] + flags + extra, timeout: 60)
            Self.expectFailure(out, [fifo, "not a regular file (a FIFO (named pipe))"], outputs: [ranks])
        }
    }

    // MARK: 7. Empty and unfollowable files, non-UTF-8 configuration

    @Test("an empty caption file is an error, not 0 queries with NaN metrics", arguments: ["", "\n  \n\t\n"])
    func emptyCaptions(content: String) throws {
        try withTemporaryDirectory { root in
            let flags = try Self.synthesise(root)
            let caption = Self.captionFile(root), ranks = root + "/ranks.jsonl"
            try content.write(toFile: caption, atomically: true, encoding: .utf8)
            let out = try ToolRunner.run(["eval", "--ranks-out", ranks] + flags)
            Self.expectFailure(out, ["\(caption): no captions: the caption file \(content.isEmpty ? "is empty" : "holds only blank lines (3)")"], outputs: [ranks])
            #expect(!out.stdout.contains("0 queries"))
        }
    }

    @Test("inspect on a split whose caption file is a symlink loop exits non-zero naming it")
    func captionSymlinkLoop() throws {
        try withTemporaryDirectory { root in
            _ = try Self.synthesise(root)
            let caption = Self.captionFile(root, "val")
            try FileManager.default.removeItem(atPath: caption)
            try FileManager.default.createSymbolicLink(atPath: caption, withDestinationPath: caption)
            let out = try ToolRunner.run(["inspect", root + "/data/synthetic"])
            Self.expectFailure(out, ["\(caption): cannot open: too many levels of symbolic links (a symlink loop?)"])
        }
    }

    @Test("a feature folder that is a symlink loop is reported as such")
    func featureFolderSymlinkLoop() throws {
        try withTemporaryDirectory { root in
            _ = try Self.synthesise(root)
            let folder = Self.featureFolder(root)
            try FileManager.default.removeItem(atPath: folder)
            try FileManager.default.createSymbolicLink(atPath: folder, withDestinationPath: folder)
            let out = try ToolRunner.run(["inspect", root + "/data/synthetic"])
            Self.expectFailure(out, ["\(root)/data/synthetic/FeatureData: no feature folder: 'synthetic' cannot be followed: cannot open: too many levels of symbolic links"])
            #expect(!out.stderr.contains("several feature folders"))
        }
    }

    @Test("a configuration file with a non-UTF-8 byte says where")
    func nonUTF8Configuration() throws {
        try withTemporaryDirectory { root in
            let config = root + "/bad.yaml", out = root + "/init.h5"
            try Data(Array("hidden_size: 32\nn_heads: 4\ncollection: ab".utf8) + [0xFF, 0x0A]).write(to: URL(fileURLWithPath: config))
            let run = try ToolRunner.run(["init", "--config", config, "--out", out])
            Self.expectFailure(run, ["\(config): not UTF-8 text: invalid byte 0xFF at line 3, column 15 (byte offset 41)"], outputs: [out])
        }
    }

    @Test("a configuration that is a symlink loop says why it cannot be read")
    func configurationSymlinkLoop() throws {
        try withTemporaryDirectory { root in
            let config = root + "/loop.yaml", out = root + "/init.h5"
            try FileManager.default.createSymbolicLink(atPath: config, withDestinationPath: config)
            let run = try ToolRunner.run(["init", "--config", config, "--out", out])
            Self.expectFailure(run, ["\(config): cannot read the configuration file: cannot open: too many levels of symbolic links"], outputs: [out])
        }
    }
}
