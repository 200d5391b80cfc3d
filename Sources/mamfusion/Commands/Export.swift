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
        PyTorch (python3, or MAMFUSION_PYTHON); the official code loads the result with \
        model.load_state_dict(torch.load(FILE)["model"]). Launch/convert-reference-checkpoint \
        reads either file back bit for bit.
        """
    )

    @Option(help: "Checkpoint to export (HDF5, as written by train, init or convert-reference-checkpoint).")
    var checkpoint: String

    @Option(help: "File to write (atomically): FILE.safetensors, or FILE.pth with --pth.")
    var out: String

    @Flag(help: "Write a PyTorch checkpoint {\"model\": state_dict} instead of safetensors (needs torch).")
    var pth = false

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
        let layout = parameters.layout
        if pth {
            // Through a safetensors file next to the output: torch reads its bytes in place.
            let staging = out + ".safetensors-staging"
            defer { try? FileManager.default.removeItem(atPath: staging) }
            let contents = try ReferenceExport.writeSafetensors(parameters, state: state, to: staging)
            try PyTorchCheckpoint.write(from: staging, contents: contents, to: out)
        } else {
            try ReferenceExport.writeSafetensors(parameters, state: state, to: out)
        }
        print("wrote \(out): \(config.modelType.displayName), \(layout.specs.count) tensors, \(layout.parameterCount.grouped) parameters "
              + "(float32, reference names and shapes\(pth ? ", {\"model\": state_dict}" : ""))")
    }
}
