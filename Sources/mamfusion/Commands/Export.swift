import ArgumentParser
import CommandOptions
import Foundation
import MamFusion

/// `mamfusion export --checkpoint CKPT --out FILE [--pth]`: a checkpoint in the reference's own
/// formats, to use the trained model with the official code or any tool that reads safetensors
/// (see `ReferenceExport`).
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a checkpoint to the reference's formats: safetensors (native) or, with --pth, a PyTorch {\"model\": state_dict}.",
        discussion: """
        Every parameter is written under its reference name and PyTorch shape, float32, in the \
        reference state_dict order. The model's configuration is the one stored in the checkpoint \
        (its config attribute), or --config/--set for a file without one. --pth needs Python with \
        PyTorch (python3, or MAMFUSION_PYTHON); the official MamFusion/GMMFormer code loads the \
        result with model.load_state_dict(torch.load(FILE)["model"]), the official MUSE code with \
        --init_model FILE (a bare state_dict, as its pytorch_model.bin). MUSE's frozen pyramid, \
        which the official state_dict has no key for, is written after the official tensors as \
        mamba_stages.*; --official-only leaves it out. Launch/convert-reference-checkpoint reads \
        either file back bit for bit.
        """
    )

    @Option(help: "Checkpoint to export (HDF5, as written by train, init or convert-reference-checkpoint).")
    var checkpoint: String

    @Option(help: "File to write (atomically): FILE.safetensors, or FILE.pth with --pth.")
    var out: String

    @Flag(help: "Write a PyTorch checkpoint as the official code saves it (MamFusion/GMMFormer {\"model\": state_dict}, MUSE the bare state_dict) instead of safetensors (needs torch).")
    var pth = false

    @Flag(help: "Write only the tensors the official state_dict has keys for (MUSE: leaves out the frozen pyramid; the converter then draws it from a configuration's seed).")
    var officialOnly = false

    @OptionGroup var options: ConfigurationOptions

    func run() throws {
        let config: RunConfiguration
        if options.config != nil || !options.overrides.isEmpty {
            config = try options.resolve()
        } else if let yaml = try Checkpoint.storedConfigurationYAML(in: checkpoint) {
            config = try RunConfiguration.parse(yaml: yaml, source: "\(checkpoint) (config attribute)")
        } else {
            throw ValidationError("\(checkpoint) stores no configuration: give the one it was trained with (--config FILE, --set key=value)")
        }
        let parameters = try ParameterSet(allocating: config.parameterLayout, for: "the model's parameters")
        let (state, _, _) = try Checkpoint.read(from: checkpoint, into: parameters)
        let format = config.modelType.referenceFormat
        let contents: SafetensorsWriter.Contents
        if pth {
            // Through a safetensors file next to the output: torch reads its bytes in place.
            let staging = out + ".safetensors-staging"
            defer { try? FileManager.default.removeItem(atPath: staging) }
            contents = try ReferenceExport.writeSafetensors(parameters, state: state, officialOnly: officialOnly, to: staging)
            try PyTorchCheckpoint.write(from: staging, contents: contents, container: format.container, to: out)
        } else {
            contents = try ReferenceExport.writeSafetensors(parameters, state: state, officialOnly: officialOnly, to: out)
        }
        let written = contents.placements, extras = written.filter { format.isExtra($0.name) }
        let container = format.container == .modelKey ? "{\"model\": state_dict}" : "state_dict"
        print("wrote \(out): \(config.modelType.displayName), \(written.count) tensors, \(written.reduce(0) { $0 + $1.shape.reduce(1, *) }.grouped) "
              + "parameters (float32, reference names and shapes\(pth ? ", \(container)" : "")"
              + (extras.isEmpty ? "" : "; \(extras.count) not in the official state_dict: \(format.extraPrefixes.map { $0 + "*" }.joined(separator: ", "))")
              + ")")
    }
}
