import ArgumentParser
import Foundation
import MamFusion

/// `--config FILE` and `--set key=value …`, shared by every command that runs the model.
struct ConfigurationOptions: ParsableArguments {
    @Option(name: .long, help: "Run configuration (YAML with the reference key names; see Configs/).")
    var config: String?

    @Option(name: .customLong("set"), parsing: .singleValue, help: "Override one key: --set key=value (repeatable).")
    var overrides: [String] = []

    /// The configuration: file (if given) then overrides, validated.
    func resolve() throws -> RunConfiguration {
        var c = RunConfiguration()
        if let config {
            guard let text = try? String(contentsOfFile: config, encoding: .utf8) else {
                throw ValidationError("cannot read configuration file \(config)")
            }
            c = try RunConfiguration.parse(yaml: text, source: config)
        }
        try c.apply(overrides: overrides)
        try c.validate(source: config)
        return c
    }
}
