import Foundation
import MamFusion

/// Writes a state_dict as the official code saves it (`ReferenceFormat.Container`): `{"model":
/// state_dict}` for MamFusion and GMMFormer (`torch.load(path)["model"]`, then
/// `load_state_dict`), the bare state_dict for MUSE (CLIP4Clip's `pytorch_model.bin`) — with
/// PyTorch itself: torch's pickle format is torch's to write. Needs a Python with torch (`python3`, or the
/// interpreter named by `MAMFUSION_PYTHON`), like `Launch/convert-reference-checkpoint`.
///
/// The tensors come from a safetensors file this process has just written: the program below
/// gets, on standard input, where each tensor's bytes are in it (the `Contents`
/// `SafetensorsWriter` returned), so Python maps bytes to tensors and parses nothing itself.
/// The `.pth` is written to `out + ".tmp"` and renamed into place.
enum PyTorchCheckpoint {
    /// The interpreter: `MAMFUSION_PYTHON` or `python3` (looked up on PATH).
    static var python: String { ProcessInfo.processInfo.environment["MAMFUSION_PYTHON"] ?? "python3" }

    /// Exit status of the program when torch cannot be imported.
    static let missingTorch: Int32 = 3

    static let program = #"""
    import json, os, sys
    from collections import OrderedDict
    try:
        import torch
    except ImportError as error:
        sys.stderr.write(f"{error}\n")
        sys.exit(3)
    spec = json.load(sys.stdin)
    with open(spec["data"], "rb") as f:
        data = bytearray(f.read())
    state = OrderedDict()
    for t in spec["tensors"]:
        begin, end = t["bytes"]
        values = torch.frombuffer(data, dtype=torch.float32, offset=spec["data_start"] + begin, count=(end - begin) // 4)
        state[t["name"]] = values.reshape(t["shape"]).clone()
    torch.save({"model": state} if spec["wrap_in_model_key"] else state, spec["out"] + ".tmp")
    os.replace(spec["out"] + ".tmp", spec["out"])
    """#

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Writes `out` from the safetensors file `data` laid out as `contents`, in `container`.
    static func write(from data: String, contents: SafetensorsWriter.Contents, container: ReferenceFormat.Container, to out: String) throws {
        let manifest: [String: Any] = [
            "data": data, "data_start": contents.dataStart, "out": out, "wrap_in_model_key": container == .modelKey,
            "tensors": contents.placements.map { ["name": $0.name, "shape": $0.shape, "bytes": [$0.byteRange.lowerBound, $0.byteRange.upperBound]] },
        ]
        let input = try JSONSerialization.data(withJSONObject: manifest)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, "-c", program]
        let stdin = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardError = stderr
        do { try process.run() } catch {
            throw Failure(description: "cannot start \(python) (needed for --pth): \(error.localizedDescription)")
        }
        stdin.fileHandleForWriting.write(input)
        try stdin.fileHandleForWriting.close()
        let message = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: out + ".tmp")
        switch process.terminationStatus {
        case 0: return
        case missingTorch:
            throw Failure(description: "--pth needs PyTorch in \(python) (pip install torch; or set MAMFUSION_PYTHON to an interpreter that has it): \(message)")
        case 127:
            throw Failure(description: "--pth needs Python with PyTorch: \(python) was not found (set MAMFUSION_PYTHON)")
        default:
            throw Failure(description: "writing \(out) with \(python) failed (exit \(process.terminationStatus)): \(message)")
        }
    }
}
