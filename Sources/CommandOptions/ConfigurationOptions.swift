import ArgumentParser
import Foundation
import MamFusion
import TensorKit

/// `--config FILE` and `--set key=value …`, shared by every command that runs the model.
public struct ConfigurationOptions: ParsableArguments {
    @Option(name: .long, help: "Run configuration (YAML with the reference key names; see Configs/).")
    public var config: String?

    @Option(name: .customLong("set"), parsing: .singleValue, help: "Override one key: --set key=value (repeatable).")
    public var overrides: [String] = []

    public init() {}

    /// The configuration: file (if given) then overrides, validated (`RunConfiguration.load`).
    public func resolve() throws -> RunConfiguration {
        try RunConfiguration.load(file: config, overrides: overrides)
    }
}

/// `--precision` and `--matmul-engine` on `eval`, `index` and the benches: the configuration's
/// `precision` and `matmul_engine` for one run (MATMUL.md).
public struct EngineOptions: ParsableArguments {
    @Option(help: "Matrix-product operands: fp32, or bf16 (fp32 accumulation; overrides the configuration's 'precision').")
    public var precision: Precision?

    @Option(name: .customLong("matmul-engine"), help: "auto, onednn or openblas (overrides the configuration's 'matmul_engine').")
    public var matmulEngine: MatmulEngineChoice?

    public init() {}

    /// As `--set` overrides, applied after the configuration's own.
    public var overrides: [String] {
        (precision.map { ["precision=\($0.rawValue)"] } ?? []) + (matmulEngine.map { ["matmul_engine=\($0.rawValue)"] } ?? [])
    }
}

extension MatmulEngineChoice: ExpressibleByArgument {}
extension Precision: ExpressibleByArgument {}

extension ConfigurationOptions {
    /// `resolve()` with the engine options' overrides last.
    public func resolve(engine: EngineOptions) throws -> RunConfiguration {
        try RunConfiguration.load(file: config, overrides: overrides + engine.overrides)
    }
}

/// A list of engines and precisions to compare in one run: `openblas:fp32,onednn:bf16`.
public enum EngineList {
    public static func parse(_ text: String, option: String) throws -> [MatrixEngineSelection] {
        let items = text.split(separator: ",", omittingEmptySubsequences: false)
        guard !items.isEmpty else { throw ValidationError("\(option): give engine:precision pairs, e.g. openblas:fp32,onednn:bf16") }
        return try items.map { item in
            let parts = item.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2, let engine = MatmulEngineKind(rawValue: parts[0]), let precision = Precision(rawValue: parts[1]) else {
                throw ValidationError("\(option): '\(item)' is not engine:precision (engines openblas, onednn; precisions fp32, bf16)")
            }
            if engine == .onednn, let reason = OneDNNLibrary.unavailableReason { throw ValidationError("\(option): \(reason)") }
            return MatrixEngineSelection(engine: engine, precision: precision)
        }
    }
}
