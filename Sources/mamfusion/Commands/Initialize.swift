import ArgumentParser
import CommandOptions
import Foundation
import MamFusion

/// `mamfusion init --config FILE --out CKPT`: a freshly initialised checkpoint (MODEL.md §5),
/// a pure function of the configuration and its seed.
struct Initialize: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Write a freshly initialised checkpoint for a configuration."
    )

    @OptionGroup var options: ConfigurationOptions

    @Option(help: "Checkpoint file to write (HDF5).")
    var out: String

    func run() throws {
        let config = try options.resolve()
        let parameters = try ParameterSet(allocating: config.parameterLayout, for: "the model's parameters")
        config.modelType.initialize(parameters, seed: UInt64(config.seed))
        var state = TrainingState()
        state.seed = config.seed
        try Checkpoint.write(to: out, parameters: parameters, state: state, configurationYAML: config.yaml)
        print("wrote \(out): \(parameters.layout.specs.count) tensors, \(parameters.layout.parameterCount.grouped) parameters, seed \(config.seed)")
    }
}
