import Foundation
import HDF5Kit
import TestSupport
import Testing
@testable import MamFusion

/// `mamfusion export`: the reference's formats, read back by readers other than ours where the
/// interpreter has them (safetensors, h5py via `Launch/convert-reference-checkpoint`, PyTorch),
/// and byte by byte by the test itself everywhere.
@Suite(.serialized)
struct ExportCommandTests {
    static let small = ["--set", "hidden_size=32", "--set", "n_heads=4", "--set", "visual_feat_dim=24", "--set", "q_feat_size=16",
                        "--set", "max_ctx_l=40", "--set", "seed=77"]

    /// A fresh checkpoint of `model` written by `init`, and its parameters.
    static func checkpoint(in dir: String, model: String = "mamfusion") throws -> (path: String, parameters: ParameterSet) {
        let path = dir + "/\(model).h5"
        let out = try ToolRunner.run(["init", "--out", path, "--set", "model=\(model)"] + small)
        #expect(out.status == 0, "\(out.stderr)")
        var c = RunConfiguration()
        try c.apply(overrides: stride(from: 1, to: small.count, by: 2).map { small[$0] } + ["model=\(model)"])
        let parameters = ParameterSet(layout: c.parameterLayout)
        try Checkpoint.read(from: path, into: parameters)
        return (path, parameters)
    }

    /// The values of `parameters` in reference order, as little-endian float32 bytes.
    static func referenceBytes(_ parameters: ParameterSet) -> [UInt8] {
        var bytes: [UInt8] = []
        for spec in parameters.layout.specs {
            for i in 0..<spec.count { withUnsafeBytes(of: parameters.storage.base[spec.offset + i].bitPattern.littleEndian) { bytes += $0 } }
        }
        return bytes
    }

    /// A safetensors file's bytes, its header length and its header (parsed as the format says:
    /// a little-endian UInt64 length, then that much JSON).
    static func safetensors(_ path: String) throws -> (bytes: [UInt8], headerLength: Int, header: [String: Any]) {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let n = Int(bytes[0..<8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        return (bytes, n, try #require(try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + n)])) as? [String: Any]))
    }

    /// `Launch/convert-reference-checkpoint` with `arguments` (the tool built for these tests is the
    /// `mamfusion` it runs for a MUSE configuration).
    static func convert(_ arguments: [String]) throws -> ToolRunner.Output {
        try PythonRunner.run([PythonRunner.repository.appendingPathComponent("Launch/convert-reference-checkpoint").path] + arguments,
                             environment: ["MAMFUSION": ToolRunner.executable.path])
    }

    /// Converts `file` (to `file`.h5, with `arguments`): it succeeds, prints `note` (if given) and gives back
    /// `parameters` bit for bit (`Checkpoint.read` refuses a missing, extra or misshapen tensor, or
    /// the other model).
    static func expectConverts(_ file: String, _ arguments: [String] = [], to parameters: ParameterSet, noting note: String? = nil) throws {
        let run = try convert([file, file + ".h5"] + arguments)
        #expect(run.status == 0, "\(run.stderr)")
        if let note { #expect(run.stdout.contains(note), "\(run.stdout)") }
        let back = ParameterSet(layout: parameters.layout)
        try Checkpoint.read(from: file + ".h5", into: back)
        #expect(referenceBytes(back) == referenceBytes(parameters))
    }

    @Test("safetensors: the header names every tensor with its reference name, shape and offsets in state_dict order; the data is the checkpoint's bits",
          arguments: ["mamfusion", "gmmformer", "muse"])
    func safetensorsBytes(model: String) throws {
        try withTemporaryDirectory { dir in
            let (path, parameters) = try Self.checkpoint(in: dir, model: model)
            let out = dir + "/model.safetensors"
            let run = try ToolRunner.run(["export", "--checkpoint", path, "--out", out])
            #expect(run.status == 0, "\(run.stderr)")
            #expect(run.stdout.contains("\(parameters.layout.specs.count) tensors"))
            let (bytes, n, header) = try Self.safetensors(out)
            #expect((8 + n) % 8 == 0, "the data part starts 8-byte aligned")
            let metadata = try #require(header["__metadata__"] as? [String: String])
            #expect(metadata["format"] == "pt" && metadata["model"] == model)
            #expect(header.count == parameters.layout.specs.count + 1)
            var offset = 0
            for spec in parameters.layout.specs {
                let entry = try #require(header[spec.name] as? [String: Any], "\(spec.name) missing")
                #expect(entry["dtype"] as? String == "F32")
                #expect(entry["shape"] as? [Int] == spec.shape, "\(spec.name)")
                #expect(entry["data_offsets"] as? [Int] == [offset, offset + 4 * spec.count], "\(spec.name): not next in state_dict order")
                offset += 4 * spec.count
            }
            #expect(bytes.count == 8 + n + offset)
            #expect(Array(bytes[(8 + n)...]) == Self.referenceBytes(parameters))
            #expect(!FileManager.default.fileExists(atPath: out + ".tmp"))
        }
    }

    @Test("safetensors is read by the safetensors package to the same names, shapes and bits",
          .enabled(if: PythonRunner.has("safetensors", "numpy"), "needs Python with safetensors and numpy (MAMFUSION_PYTHON or python3)"),
          arguments: ["mamfusion", "muse"])
    func safetensorsPackageReads(model: String) throws {
        try withTemporaryDirectory { dir in
            let (path, parameters) = try Self.checkpoint(in: dir, model: model)
            let out = dir + "/model.safetensors"
            #expect(try ToolRunner.run(["export", "--checkpoint", path, "--out", out]).status == 0)
            let names = parameters.layout.specs.map(\.name).joined(separator: "\n")
            let read = try PythonRunner.run(["-c", """
                import sys
                from safetensors.numpy import load_file
                tensors = load_file(sys.argv[1])
                names = sys.stdin.read().split("\\n")
                assert sorted(tensors) == sorted(names), "names differ"
                with open(sys.argv[2], "wb") as f:
                    for name in names:
                        print(name, "x".join(map(str, tensors[name].shape)) or "scalar", tensors[name].dtype)
                        f.write(tensors[name].astype("<f4").tobytes())
                """, out, dir + "/values.bin"], stdin: names)
            #expect(read.status == 0, "\(read.stderr)")
            let lines = read.stdout.split(separator: "\n").map(String.init)
            #expect(lines == parameters.layout.specs.map { "\($0.name) \($0.shapeDescription) float32" })
            #expect([UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/values.bin"))) == Self.referenceBytes(parameters))
        }
    }

    @Test("round trip: export, then Launch/convert-reference-checkpoint, gives back the same tensors bit for bit",
          .enabled(if: PythonRunner.has("numpy", "h5py"), "needs Python with numpy and h5py (MAMFUSION_PYTHON or python3)"),
          arguments: ["mamfusion", "gmmformer", "muse"])
    func roundTrip(model: String) throws {
        try withTemporaryDirectory { dir in
            let (path, parameters) = try Self.checkpoint(in: dir, model: model)
            #expect(try ToolRunner.run(["export", "--checkpoint", path, "--out", dir + "/m.safetensors"]).status == 0)
            try Self.expectConverts(dir + "/m.safetensors", to: parameters)
        }
    }

    @Test("--pth writes the state_dict as the official code saves it ({\"model\": state_dict}; MUSE: bare) that torch.load reads (weights only) and the converter brings back bit for bit",
          .enabled(if: PythonRunner.has("torch", "numpy", "h5py"), "needs Python with torch, numpy and h5py (MAMFUSION_PYTHON or python3)"),
          arguments: ["mamfusion", "muse"])
    func pyTorchRoundTrip(model: String) throws {
        try withTemporaryDirectory { dir in
            let (path, parameters) = try Self.checkpoint(in: dir, model: model)
            let out = dir + "/model.pth"
            let export = try ToolRunner.run(["export", "--checkpoint", path, "--out", out, "--pth"],
                                            environment: ["MAMFUSION_PYTHON": PythonRunner.interpreter])
            #expect(export.status == 0, "\(export.stderr)")
            let read = try PythonRunner.run(["-c", """
                import sys, torch
                checkpoint = torch.load(sys.argv[1], map_location="cpu", weights_only=True)
                if sys.argv[2] == "modelKey":
                    assert list(checkpoint) == ["model"], list(checkpoint)
                    checkpoint = checkpoint["model"]
                for name, tensor in checkpoint.items():
                    print(name, "x".join(map(str, tensor.shape)), tensor.dtype)
                """, out, ModelRegistry.model(named: model)!.referenceFormat.container.rawValue])
            #expect(read.status == 0, "\(read.stderr)")
            #expect(read.stdout.split(separator: "\n").map(String.init) == parameters.layout.specs.map { "\($0.name) \($0.shapeDescription) torch.float32" })
            try Self.expectConverts(out, to: parameters)
        }
    }

    @Test("--pth without PyTorch: a message saying what is needed, non-zero exit, nothing written")
    func pyTorchMissing() throws {
        try withTemporaryDirectory { dir in
            let (path, _) = try Self.checkpoint(in: dir)
            // An interpreter that cannot import torch, whatever this machine has installed.
            let python = dir + "/python-without-torch"
            try "#!/bin/sh\nexec python3 -S \"$@\"\n".write(toFile: python, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: python)
            let out = dir + "/model.pth"
            let run = try ToolRunner.run(["export", "--checkpoint", path, "--out", out, "--pth"], environment: ["MAMFUSION_PYTHON": python])
            #expect(run.status != 0)
            #expect(run.stderr.contains("--pth needs PyTorch") && run.stderr.contains("torch"), "\(run.stderr)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["mamfusion.h5", "python-without-torch"], "nothing left behind")
        }
    }

    @Test("a checkpoint without a stored configuration needs --config; the wrong model is named")
    func configuration() throws {
        try withTemporaryDirectory { dir in
            let (path, _) = try Self.checkpoint(in: dir)
            let file = try HDF5File.open(path, mode: .readWrite)
            try file.deleteAttribute("config")
            try file.close()
            let bare = try ToolRunner.run(["export", "--checkpoint", path, "--out", dir + "/m.safetensors"])
            #expect(bare.status != 0 && bare.stderr.contains("stores no configuration"), "\(bare.stderr)")
            let wrong = try ToolRunner.run(["export", "--checkpoint", path, "--out", dir + "/m.safetensors", "--set", "model=gmmformer"] + Self.small)
            #expect(wrong.status != 0 && wrong.stderr.contains("holds a mamfusion model"), "\(wrong.stderr)")
            let given = try ToolRunner.run(["export", "--checkpoint", path, "--out", dir + "/m.safetensors"] + Self.small)
            #expect(given.status == 0, "\(given.stderr)")
            #expect(FileManager.default.fileExists(atPath: dir + "/m.safetensors"))
        }
    }
}
