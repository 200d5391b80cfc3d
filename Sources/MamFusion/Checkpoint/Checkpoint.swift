#if canImport(Glibc)
import Glibc
#endif
import HDF5Kit

/// Where training stands, saved with the parameters (DISTRIBUTED.md §6).
public struct TrainingState: Sendable, Equatable {
    /// Optimiser updates applied so far (the global step).
    public var step = 0
    /// The 0-based epoch in progress.
    public var epoch = 0
    /// Batches of `epoch` already done (the sampler position).
    public var batchInEpoch = 0
    public var seed = 0
    /// Best validation SumR so far and the epoch it came from (−1: none yet).
    public var bestSumR: Double = -1
    public var bestEpoch = -1
    /// Epochs since the best one (early stopping counter).
    public var epochsWithoutImprovement = 0
    public init() {}
}

/// A checkpoint problem; lists every mismatch by name so that one run shows them all.
public struct CheckpointError: Error, CustomStringConvertible {
    public let path: String
    public let problems: [String]
    /// At most 20 problems are listed (a file of NaNs would otherwise print every tensor).
    public var description: String {
        let listed = problems.prefix(20).joined(separator: "\n  ") + (problems.count > 20 ? "\n  … and \(problems.count - 20) more" : "")
        return "checkpoint \(path): " + (problems.count == 1 ? problems[0] : "\(problems.count) problems:\n  " + listed)
    }
}

/// Checkpoint files (HDF5): `/model/<reference name>` float32 in PyTorch's shape for every
/// parameter, `/optimizer/exp_avg/<name>` and `/optimizer/exp_avg_sq/<name>`, and as root
/// attributes the format, the model (its `TrainableModel.name`; a file without it is the model
/// that claims its tensor names, `ModelRegistry.model(ofUnlabelledCheckpoint:)` — for the
/// reference's models the converter's rule: Mamba tensors make it MamFusion, else GMMFormer),
/// the training state and the resolved configuration (YAML).
///
/// A file written by any HDF5 tool with the reference names and shapes loads (e.g. converted
/// from a reference `.pth` by `Launch/convert-reference-checkpoint`). Values must load exactly
/// and be finite (`CheckpointTensorReader`): float16, float64 and integer tensors are converted
/// only when every value is exact in float32, with a note; NaN/±Inf values are refused, naming
/// the tensor and the first index.
/// Writes are atomic: a temporary file, flushed, synced and renamed over the old one.
public enum Checkpoint {
    public static let format = "mamfusion-checkpoint"

    /// Prints `text` to standard error as a note (the default `note` of `read`).
    public static func printNote(_ text: String) {
        var line = "note: " + text + "\n"
        line.withUTF8 { _ = Glibc.write(2, $0.baseAddress, $0.count) }
    }
    public static let version: Int64 = 1

    /// Writes `parameters` (and the optimiser moments, if given) with `state` and `configuration`.
    public static func write(to path: String, parameters: ParameterSet, expAvg: ParameterSet? = nil, expAvgSq: ParameterSet? = nil,
                             state: TrainingState, configurationYAML: String) throws {
        try HDF5File.writeAtomically(to: path) { file in
            try file.setAttribute("format", .string(format))
            try file.setAttribute("format_version", .int64(version))
            try file.setAttribute("model", .string(parameters.layout.model))
            try file.setAttribute("step", .int64(Int64(state.step)))
            try file.setAttribute("epoch", .int64(Int64(state.epoch)))
            try file.setAttribute("batch_in_epoch", .int64(Int64(state.batchInEpoch)))
            try file.setAttribute("seed", .int64(Int64(state.seed)))
            try file.setAttribute("best_sumr", .double(state.bestSumR))
            try file.setAttribute("best_epoch", .int64(Int64(state.bestEpoch)))
            try file.setAttribute("epochs_without_improvement", .int64(Int64(state.epochsWithoutImprovement)))
            try file.setAttribute("config", .string(configurationYAML))
            for (group, set) in [("model", parameters), ("optimizer/exp_avg", expAvg), ("optimizer/exp_avg_sq", expAvgSq)] {
                guard let set else { continue }
                let g = try file.createGroup(group)
                for spec in set.layout.specs {
                    let dataset = try g.createDataset(spec.name, type: .float32, shape: spec.shape)
                    try dataset.write(from: UnsafeBufferPointer(set.tensor(spec).buffer))
                }
            }
        }
    }

    /// The resolved configuration a checkpoint was written with (its `config` attribute), or nil
    /// for a file without one (e.g. converted from a reference `.pth`).
    public static func storedConfigurationYAML(in path: String) throws -> String? {
        let file = try HDF5File.open(path)
        return try file.hasAttribute("config") ? try file.stringAttribute("config") : nil
    }

    /// Reads the parameters (and moments, when asked and present) into the given sets, checking
    /// the model and every name and shape against their layout and every value (exact in float32,
    /// finite). Throws `CheckpointError` naming both models when the file holds the other model,
    /// else listing every missing, unexpected, misshapen, inexact or non-finite tensor.
    /// Conversions are reported through `note` (one line per source type; by default printed to
    /// standard error). Returns the training state (defaults for files without it).
    @discardableResult
    public static func read(from path: String, into parameters: ParameterSet, expAvg: ParameterSet? = nil,
                            expAvgSq: ParameterSet? = nil, note: (String) -> Void = Checkpoint.printNote)
        throws -> (state: TrainingState, configurationYAML: String?, hasOptimizerState: Bool) {
        let file = try HDF5File.open(path)
        guard try file.exists("model") else {
            throw CheckpointError(path: path, problems: ["no /model group (not a checkpoint of this format)"])
        }
        let configured = parameters.layout.model
        let saved = try file.hasAttribute("model") ? try file.stringAttribute("model")
            : ModelRegistry.model(ofUnlabelledCheckpoint: Set(try file.openGroup("model").memberNames()))?.name ?? configured
        guard saved == configured else {
            let known = ModelRegistry.model(named: saved) != nil
                ? "set model: \(saved) (or use the configuration it was trained with) to load it"
                : "known models: " + ModelRegistry.names.joined(separator: ", ")
            throw CheckpointError(path: path, problems: ["holds a \(saved) model, but the configuration's model is \(configured); \(known)"])
        }
        let hasOptimizer = try file.exists("optimizer/exp_avg") && file.exists("optimizer/exp_avg_sq")
        var problems: [String] = []
        var converted: [String: [String]] = [:]  // source type → tensors converted from it
        var targets: [(String, ParameterSet)] = [("model", parameters)]
        if hasOptimizer, let expAvg, let expAvgSq { targets += [("optimizer/exp_avg", expAvg), ("optimizer/exp_avg_sq", expAvgSq)] }
        for (group, set) in targets {
            let g = try file.openGroup(group)
            let present = Set(try g.memberNames())
            let expected = Set(set.layout.specs.map(\.name))
            for name in present.subtracting(expected).sorted() { problems.append("/\(group)/\(name): not a parameter of this configuration") }
            for spec in set.layout.specs {
                guard present.contains(spec.name) else {
                    problems.append("/\(group)/\(spec.name): missing (expected shape \(spec.shapeDescription))")
                    continue
                }
                let dataset = try g.openDataset(spec.name)
                let shape = dataset.shape
                guard shape == spec.shape || (shape.reduce(1, *) == spec.count && shape.filter { $0 != 1 } == spec.shape.filter { $0 != 1 }) else {
                    problems.append("/\(group)/\(spec.name): shape \(shape.map(String.init).joined(separator: "x")), expected \(spec.shapeDescription)")
                    continue
                }
                guard dataset.elementType.isNumeric else {
                    problems.append("/\(group)/\(spec.name): not a numeric dataset")
                    continue
                }
                switch try CheckpointTensorReader.read(dataset, into: set.tensor(spec).buffer, shape: spec.shape) {
                case .loaded: break
                case .converted(let source): converted[source, default: []].append("/\(group)/\(spec.name)")
                case .refused(let problem): problems.append("/\(group)/\(spec.name): \(problem)")
                }
            }
        }
        if !problems.isEmpty { throw CheckpointError(path: path, problems: problems) }
        for (source, names) in converted.sorted(by: { $0.key < $1.key }) {
            note("checkpoint \(path): \(names.count) tensor\(names.count == 1 ? "" : "s") stored as \(source) converted to float32 "
                 + "(every value exact): \(names.prefix(3).joined(separator: ", "))\(names.count > 3 ? ", …" : "")")
        }
        var state = TrainingState()
        func int(_ name: String) throws -> Int? { try file.hasAttribute(name) ? Int(try file.int64Attribute(name)) : nil }
        state.step = try int("step") ?? 0
        state.epoch = try int("epoch") ?? 0
        state.batchInEpoch = try int("batch_in_epoch") ?? 0
        state.seed = try int("seed") ?? 0
        state.bestSumR = try file.hasAttribute("best_sumr") ? try file.doubleAttribute("best_sumr") : -1
        state.bestEpoch = try int("best_epoch") ?? -1
        state.epochsWithoutImprovement = try int("epochs_without_improvement") ?? 0
        let yaml = try file.hasAttribute("config") ? try file.stringAttribute("config") : nil
        return (state, yaml, hasOptimizer)
    }
}
