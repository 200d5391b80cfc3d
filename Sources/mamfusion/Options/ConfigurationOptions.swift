import ArgumentParser
import Foundation
import MamFusion

/// `--config FILE` and `--set key=value …`, shared by every command that runs the model.
struct ConfigurationOptions: ParsableArguments {
    @Option(name: .long, help: "Run configuration (YAML with the reference key names; see Configs/).")
    var config: String?

    @Option(name: .customLong("set"), parsing: .singleValue, help: "Override one key: --set key=value (repeatable).")
    var overrides: [String] = []

    /// The configuration: file (if given) then overrides, validated (`RunConfiguration.load`).
    func resolve() throws -> RunConfiguration {
        try RunConfiguration.load(file: config, overrides: overrides)
    }
}
