import InputFiles
import TensorKit
import Yams

/// One run's configuration: the reference's hyper-parameter keys (MODEL.md §7) plus this
/// project's data and training keys. Read from one YAML file per run, overridden by
/// `--set key=value`; unknown keys and bad values are errors that name the key.
///
/// Defaults are the reference TVR values.
public struct RunConfiguration: Sendable, Equatable {
    /// The model's name (`TrainableModel.name`, one of `ModelRegistry.names`): MamFusion
    /// (default) or its GMMFormer baseline (MODEL.md §10).
    public var model = MamFusionModel.name
    // Model (reference keys)
    public var hiddenSize = 384
    public var heads = 8
    public var queryFeatureSize = 768
    public var visualFeatureSize = 3072
    public var maxDescriptionLength = 30
    public var maxContextLength = 512
    public var mapSize = 32
    public var inputDropout: Double = 0.2
    public var dropout: Double = 0.45
    /// Master switch for every dropout (off makes a step deterministic given its inputs).
    public var dropoutEnabled = true
    // Loss
    public var margin: Double = 0.2
    public var lossFactor: [Double] = [0.027, 0.045, 0.015]
    public var negativeFactor: [Double] = [0.2, 32]
    public var hardNegativeStartEpoch = 20
    public var hardPoolSize = 20
    // Optimiser and schedule
    public var learningRate: Double = 4.5e-4
    public var weightDecay: Double = 0.01
    public var warmupProportion: Double = 0.01
    public var epochs = 200
    public var maxEarlyStopCount = 200
    public var batchSize = 256
    // Evaluation
    public var evalQueryBatchSize = 50
    public var evalContextBatchSize = 100
    public var clipScaleWeight: Double = 0.7
    public var frameScaleWeight: Double = 0.3
    public var seed = 9527
    // Data (ours)
    public var dataRoot = "data"
    public var collection = "tvr"
    public var visualFeature = "i3d_resnet"
    public var dataLayout = DataLayout.release
    public var packedFile = ""
    public var outputDirectory = "runs/tvr"
    // Training knobs (ours)
    public var checkpointEverySteps = 500
    public var logEverySteps = 10
    public var gradientBucketMiB = 16
    public var collectiveTimeoutSeconds: Double = 60
    public var checksumEverySteps = 100
    /// Videos per rank per encoder pass (0: the rank's whole share in one pass). Fewer keep fewer
    /// activations in memory at the cost of a second encoder pass (DISTRIBUTED.md §3b).
    public var microBatch = 0
    // Optimiser knobs of other recipes (defaults: the PRVR reference's BertAdam, MODEL.md §6)
    public var adamBeta2: Double = 0.999
    public var learningRateSchedule = BertAdam.Schedule.warmupLinear
    /// Global gradient-norm clip before BertAdam's per-tensor one (0: off).
    public var globalClipNorm: Double = 0
    /// The gradient is divided by this before clipping (1: off; MUSE's official 8-GPU update: 8).
    public var gradientDivisor: Double = 1
    // MUSE (MUSE.md; hidden_size is its width W)
    public var museGrid = 7
    public var museFrames = 12
    public var museBlocks = 4
    public var museState = 16
    public var museConvolution = 4
    public var museExpand = 1
    public var museDropPath: Double = 0.1
    public var museTrainPyramid = false
    public var museLogitScale: Double = 100
    /// The engine of every matrix product (MATMUL.md §2): oneDNN when installed (`auto`), or one named.
    public var matmulEngine = MatmulEngineChoice.auto
    /// fp32, or bf16: bf16 operands of matrix products with fp32 accumulation; master weights,
    /// gradients, optimizer, norms, softmax, scan, losses, all-reduce and checkpoints stay fp32
    /// (MATMUL.md §3).
    public var precision = Precision.fp32
    /// The precision of evaluation's score products, whatever `precision` the encoders use:
    /// `fp32`; `exact-bf16` (screened in bf16, near-ties re-scored in fp32: the same ranks and
    /// scores as fp32, bit for bit); `bf16` (plain, approximate ranks); `auto` (exact-bf16 where
    /// the CPU's bf16 units make it faster — oneDNN with AMX — else fp32).
    public var evalScoring = EvalScoring.auto

    public enum DataLayout: String, Sendable, CaseIterable { case release, packed, clipTokens = "clip-tokens" }

    /// `eval_scoring`'s values (`Evaluation.ScoringMode` once `auto` is resolved).
    public enum EvalScoring: String, Sendable, CaseIterable {
        case auto, fp32
        case exactBF16 = "exact-bf16"
        case bf16
    }

    public init() {}

    /// The model sizes this configuration asks for.
    public var dimensions: ModelDimensions {
        ModelDimensions(hidden: hiddenSize, heads: heads, queryFeature: queryFeatureSize, visualFeature: visualFeatureSize,
                        maxDescriptionLength: maxDescriptionLength, maxContextLength: maxContextLength, mapSize: mapSize)
    }
}

/// A configuration problem, naming the key (and the file, when there is one).
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    public let key: String
    public let problem: String
    public var source: String?
    public init(key: String, problem: String, source: String? = nil) {
        self.key = key
        self.problem = problem
        self.source = source
    }
    public var description: String {
        (source.map { "\($0): " } ?? "") + (key.isEmpty ? problem : "key '\(key)': \(problem)")
    }
}

extension RunConfiguration {
    /// Upper bounds of the integer keys that are not model sizes (those are
    /// `ModelDimensions.Limits`); documented in the README ("Input limits").
    public enum Limits {
        /// batchsize, eval_query_bsz, eval_context_bsz, hard_pool_size: 65,536 (reference: 256,
        /// 50, 100, 20).
        public static let batch = 1 << 16
        /// n_epoch, max_es_cnt, hard_negative_start_epoch: one million.
        public static let epochs = 1_000_000
        /// checkpoint_every_steps, log_every_steps, checksum_every_steps: 2^30.
        public static let steps = 1 << 30
        /// gradient_bucket_mib: 4096 (MiB are turned into bytes: bounded so that cannot overflow).
        public static let bucketMiB = 4096
        /// Bytes of a configuration file: 1 MiB (the reference files are about 1 KiB).
        public static let fileBytes = 1 << 20
    }

    /// One configuration key: its YAML name, a one-line meaning, and how to read and write it.
    struct Key: Sendable {
        let name: String
        let help: String
        let get: @Sendable (RunConfiguration) -> String
        let set: @Sendable (inout RunConfiguration, Node) throws -> Void
    }

    /// An integer key in `min...max`: every integer key has an upper bound (`Limits`), checked
    /// when the value is read, so no size computed from the configuration can overflow.
    private static func int(_ name: String, _ help: String, _ path: WritableKeyPath<RunConfiguration, Int> & Sendable,
                            min: Int = 0, max: Int) -> Key {
        Key(name: name, help: help, get: { "\($0[keyPath: path])" }, set: { c, node in
            guard let s = node.scalar?.string, let v = Int(s) else { throw ConfigurationError(key: name, problem: "expected an integer, got \(node.describe)") }
            guard v >= min else { throw ConfigurationError(key: name, problem: "must be ≥ \(min), got \(v)") }
            guard v <= max else { throw ConfigurationError(key: name, problem: "must be ≤ \(max) (the documented maximum), got \(v)") }
            c[keyPath: path] = v
        })
    }

    private static func real(_ name: String, _ help: String, _ path: WritableKeyPath<RunConfiguration, Double> & Sendable,
                             range: ClosedRange<Double> = -Double.greatestFiniteMagnitude...Double.greatestFiniteMagnitude,
                             below: Double? = nil) -> Key {
        Key(name: name, help: help, get: { formatNumber($0[keyPath: path]) }, set: { c, node in
            guard let s = node.scalar?.string, let v = Double(s), v.isFinite else {
                throw ConfigurationError(key: name, problem: "expected a number, got \(node.describe)")
            }
            guard range.contains(v) else { throw ConfigurationError(key: name, problem: "must be in \(range.lowerBound)…\(range.upperBound), got \(v)") }
            if let below, v >= below { throw ConfigurationError(key: name, problem: "must be < \(below), got \(v)") }
            c[keyPath: path] = v
        })
    }

    private static func list(_ name: String, _ help: String, _ path: WritableKeyPath<RunConfiguration, [Double]> & Sendable, count: Int) -> Key {
        Key(name: name, help: help, get: { "[" + $0[keyPath: path].map(formatNumber).joined(separator: ", ") + "]" }, set: { c, node in
            guard let seq = node.sequence else { throw ConfigurationError(key: name, problem: "expected a list of \(count) numbers, got \(node.describe)") }
            let values = seq.compactMap { $0.scalar?.string }.compactMap(Double.init)
            guard values.count == count, seq.count == count, values.allSatisfy(\.isFinite) else {
                throw ConfigurationError(key: name, problem: "expected a list of \(count) numbers, got \(node.describe)")
            }
            c[keyPath: path] = values
        })
    }

    private static func text(_ name: String, _ help: String, _ path: WritableKeyPath<RunConfiguration, String> & Sendable, nonEmpty: Bool = false) -> Key {
        Key(name: name, help: help, get: { quoteIfNeeded($0[keyPath: path]) }, set: { c, node in
            guard let s = node.scalar?.string else { throw ConfigurationError(key: name, problem: "expected a string, got \(node.describe)") }
            if nonEmpty && s.isEmpty { throw ConfigurationError(key: name, problem: "must not be empty") }
            c[keyPath: path] = s
        })
    }

    private static func flag(_ name: String, _ help: String, _ path: WritableKeyPath<RunConfiguration, Bool> & Sendable) -> Key {
        Key(name: name, help: help, get: { $0[keyPath: path] ? "true" : "false" }, set: { c, node in
            switch node.scalar?.string.lowercased() {
            case "true", "yes", "on", "1": c[keyPath: path] = true
            case "false", "no", "off", "0": c[keyPath: path] = false
            default: throw ConfigurationError(key: name, problem: "expected true or false, got \(node.describe)")
            }
        })
    }

    /// A key whose values are the raw values of `T`'s cases.
    private static func choice<T: RawRepresentable & CaseIterable & Sendable>(_ name: String, _ help: String,
                                                                           _ path: WritableKeyPath<RunConfiguration, T> & Sendable) -> Key
        where T.RawValue == String {
        Key(name: name, help: help, get: { $0[keyPath: path].rawValue }, set: { c, node in
            guard let s = node.scalar?.string, let v = T(rawValue: s) else {
                let names = T.allCases.map(\.rawValue).joined(separator: " or ")
                throw ConfigurationError(key: name, problem: "expected \(names), got \(node.describe)")
            }
            c[keyPath: path] = v
        })
    }

    /// Every key, in the order the resolved configuration is written.
    static let keys: [Key] = [
        Key(name: "model", help: "the model: mamfusion, or gmmformer (the baseline without Mamba units and fusion modules, MODEL.md §10)",
            get: { $0.model }, set: { c, node in
                guard let s = node.scalar?.string, ModelRegistry.model(named: s) != nil else {
                    throw ConfigurationError(key: "model", problem: "expected \(ModelRegistry.names.joined(separator: " or ")), got \(node.describe)")
                }
                c.model = s
            }),
        int("hidden_size", "d, the hidden size", \.hiddenSize, min: 1, max: ModelDimensions.Limits.hidden),
        int("n_heads", "attention heads (must divide hidden_size)", \.heads, min: 1, max: ModelDimensions.Limits.hidden),
        int("q_feat_size", "query token feature size Dq", \.queryFeatureSize, min: 1, max: ModelDimensions.Limits.featureSize),
        int("visual_feat_dim", "visual feature size Dv", \.visualFeatureSize, min: 1, max: ModelDimensions.Limits.featureSize),
        int("max_desc_l", "query tokens kept", \.maxDescriptionLength, min: 1, max: ModelDimensions.Limits.descriptionLength),
        int("max_ctx_l", "maximum frames per video (longer videos are resampled)", \.maxContextLength, min: 1, max: ModelDimensions.Limits.contextLength),
        int("map_size", "clips per video", \.mapSize, min: 1, max: ModelDimensions.Limits.mapSize),
        real("input_drop", "dropout after input LayerNorms and positional encodings", \.inputDropout, range: 0...1, below: 1),
        real("drop", "attention dropout", \.dropout, range: 0...1, below: 1),
        flag("dropout", "false turns every dropout off", \.dropoutEnabled),
        real("margin", "triplet margin", \.margin, range: 0...10),
        list("loss_factor", "[clip NCE, frame NCE, query-diverse] weights", \.lossFactor, count: 3),
        list("neg_factor", "[δ, α] of the query-diverse loss", \.negativeFactor, count: 2),
        int("hard_negative_start_epoch", "first (0-based) epoch with hard negatives", \.hardNegativeStartEpoch, max: Limits.epochs),
        int("hard_pool_size", "top-k pool for hard t2v negatives", \.hardPoolSize, min: 1, max: Limits.batch),
        real("lr", "peak learning rate", \.learningRate, range: 0...1),
        real("wd", "weight decay (not on biases and LayerNorms)", \.weightDecay, range: 0...1),
        real("lr_warmup_proportion", "warm-up fraction of all steps", \.warmupProportion, range: 0...1, below: 1),
        int("n_epoch", "epochs", \.epochs, min: 1, max: Limits.epochs),
        int("max_es_cnt", "early stop after this many epochs without a better SumR", \.maxEarlyStopCount, max: Limits.epochs),
        int("batchsize", "videos per global batch", \.batchSize, min: 1, max: Limits.batch),
        int("eval_query_bsz", "queries per evaluation encoding batch", \.evalQueryBatchSize, min: 1, max: Limits.batch),
        int("eval_context_bsz", "videos per evaluation chunk (each padded to its longest video)", \.evalContextBatchSize, min: 1, max: Limits.batch),
        real("clip_scale_w", "weight of the clip score in the ranking score", \.clipScaleWeight),
        real("frame_scale_w", "weight of the frame score in the ranking score", \.frameScaleWeight),
        int("seed", "seed of every random draw", \.seed, max: Int.max),
        text("data_root", "directory holding <collection>/TextData and FeatureData", \.dataRoot),
        text("collection", "collection name (tvr, activitynet, charades, …)", \.collection, nonEmpty: true),
        text("visual_feature", "feature folder under FeatureData", \.visualFeature, nonEmpty: true),
        choice("data_layout", "release (MS-SL layout), packed (our HDF5) or clip-tokens (MUSE's CLIP token file)", \.dataLayout),
        text("packed_file", "the HDF5 file of data_layout packed or clip-tokens", \.packedFile),
        text("output_dir", "run directory (checkpoints, metrics)", \.outputDirectory, nonEmpty: true),
        int("checkpoint_every_steps", "write the latest checkpoint every N steps", \.checkpointEverySteps, min: 1, max: Limits.steps),
        int("log_every_steps", "progress line every N steps", \.logEverySteps, min: 1, max: Limits.steps),
        int("gradient_bucket_mib", "gradient all-reduce bucket size (≤ 16 recommended)", \.gradientBucketMiB, min: 1, max: Limits.bucketMiB),
        real("collective_timeout", "seconds before a stalled collective aborts the job", \.collectiveTimeoutSeconds, range: 1...86_400),
        int("checksum_every_steps", "cross-rank parameter checksum every N steps", \.checksumEverySteps, min: 1, max: Limits.steps),
        int("micro_batch", "videos per rank per encoder pass (0: the whole share; fewer: less memory, a second encoder pass)",
            \.microBatch, min: 0, max: Limits.batch),
        real("adam_beta2", "BertAdam's β2 (MUSE: 0.98)", \.adamBeta2, range: 0...1, below: 1),
        choice("lr_schedule", "warmup_linear (MODEL.md §6) or warmup_cosine (MUSE)", \.learningRateSchedule),
        real("grad_clip_global", "global gradient-norm clip before the per-tensor one (0: off; MUSE: 1.0)", \.globalClipNorm, range: 0...1e6),
        real("grad_divisor", "divide the summed gradient by this before clipping (MUSE's official 8-GPU update: 8)", \.gradientDivisor,
             range: 1e-6...1e6),
        int("muse_grid", "MUSE: CLIP's patch grid G (G×G patches per frame)", \.museGrid, min: 1, max: 64),
        int("muse_frames", "MUSE: frames T per video (real ones completed with the padding frame)", \.museFrames, min: 1, max: 4096),
        int("muse_blocks", "MUSE: ResMamba blocks", \.museBlocks, min: 1, max: 64),
        int("muse_d_state", "MUSE: Mamba d_state", \.museState, min: 1, max: 64),
        int("muse_d_conv", "MUSE: Mamba d_conv", \.museConvolution, min: 1, max: 8),
        int("muse_expand", "MUSE: Mamba expand (d_inner = expand·hidden_size)", \.museExpand, min: 1, max: 8),
        real("muse_drop_path", "MUSE: the last block's dropout (block i: linspace(0, this, blocks)[i])", \.museDropPath, range: 0...1, below: 1),
        flag("muse_train_pyramid", "MUSE: train the token pyramid (the official code never does: it stays frozen at its random init)",
             \.museTrainPyramid),
        real("muse_logit_scale", "MUSE: the similarity's logit scale (CLIP's, clamped at 100)", \.museLogitScale, range: 1e-3...1e4),
        choice("matmul_engine", "auto (oneDNN when installed, else OpenBLAS), onednn or openblas: the engine of every matrix product",
               \.matmulEngine),
        choice("precision", "fp32, or bf16: bf16 operands of matrix products, fp32 accumulation and everything else fp32", \.precision),
        choice("eval_scoring", "auto, fp32, exact-bf16 (bf16 screen, near-ties re-scored: fp32's exact ranks) or bf16 (approximate): "
               + "the precision of evaluation's score products", \.evalScoring),
    ]

    /// Applies one key's value, given as YAML text (`--set key=value` uses this).
    public mutating func set(_ name: String, yaml value: String) throws {
        guard let key = Self.keys.first(where: { $0.name == name }) else {
            throw ConfigurationError(key: Self.shortKey(name), problem: "unknown key" + Self.suggestion(for: name))
        }
        let node: Node
        do { node = try Yams.compose(yaml: value) ?? Node("") } catch {
            throw ConfigurationError(key: name, problem: "value \(Excerpt.quote(value)) is not valid YAML")
        }
        try key.set(&self, node)
    }

    /// Applies `key=value` overrides in order.
    public mutating func apply(overrides: [String]) throws {
        for o in overrides {
            guard let eq = o.firstIndex(of: "="), eq != o.startIndex else {
                throw ConfigurationError(key: "", problem: "override \(Excerpt.quote(o)) is not of the form key=value")
            }
            try set(String(o[..<eq]), yaml: String(o[o.index(after: eq)...]))
        }
    }

    /// Parses a YAML mapping of keys to values on top of the defaults.
    public static func parse(yaml text: String, source: String? = nil) throws -> RunConfiguration {
        var c = RunConfiguration()
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch {
            throw ConfigurationError(key: "", problem: "not valid YAML: \(shortened(error))", source: source)
        }
        guard let root else { return c }
        guard let mapping = root.mapping else {
            throw ConfigurationError(key: "", problem: "expected a mapping of keys to values", source: source)
        }
        var seen = Set<String>()
        for (k, v) in mapping {
            guard let name = k.scalar?.string else { throw ConfigurationError(key: "", problem: "a key is not a string", source: source) }
            guard seen.insert(name).inserted else { throw ConfigurationError(key: shortKey(name), problem: "given twice", source: source) }
            guard let key = keys.first(where: { $0.name == name }) else {
                throw ConfigurationError(key: shortKey(name), problem: "unknown key" + suggestion(for: name), source: source)
            }
            do { try key.set(&c, v) } catch var e as ConfigurationError {
                e.source = source
                throw e
            }
        }
        try c.validate(source: source)
        return c
    }

    /// Cross-key checks, and the model's size as a whole (`ModelDimensions.validate`). Each
    /// key was bounded when it was read; values set directly in code are checked again here.
    public func validate(source: String? = nil) throws {
        for (name, value, minimum, maximum) in [("hidden_size", hiddenSize, 1, ModelDimensions.Limits.hidden),
                                                ("n_heads", heads, 1, ModelDimensions.Limits.hidden),
                                                ("batchsize", batchSize, 1, Limits.batch),
                                                ("eval_query_bsz", evalQueryBatchSize, 1, Limits.batch),
                                                ("eval_context_bsz", evalContextBatchSize, 1, Limits.batch),
                                                ("gradient_bucket_mib", gradientBucketMiB, 1, Limits.bucketMiB)]
        where !(minimum...maximum).contains(value) {
            throw ConfigurationError(key: name, problem: "must be in \(minimum)…\(maximum), got \(value)", source: source)
        }
        if hiddenSize % heads != 0 {
            throw ConfigurationError(key: "n_heads", problem: "must divide hidden_size (\(hiddenSize)), got \(heads)", source: source)
        }
        if mapSize > maxContextLength {
            throw ConfigurationError(key: "map_size", problem: "must be ≤ max_ctx_l (\(maxContextLength)), got \(mapSize)", source: source)
        }
        if dataLayout != .release && packedFile.isEmpty {
            throw ConfigurationError(key: "packed_file", problem: "required when data_layout is \(dataLayout.rawValue)", source: source)
        }
        guard let type = ModelRegistry.model(named: model) else {
            throw ConfigurationError(key: "model", problem: "expected \(ModelRegistry.names.joined(separator: " or ")), got \(Excerpt.quote(model))",
                                     source: source)
        }
        if let (key, problem) = dimensions.problem(specs: { _ in type.layout(self).specs }) {
            throw ConfigurationError(key: key, problem: problem, source: source)
        }
    }

    /// Reads, parses and validates the configuration file at `path` (nil: the defaults), then
    /// applies `overrides` (`key=value`) and validates the result — what every command does.
    ///
    /// The file must be a regular file (a FIFO is refused, never waited on) of at most
    /// `Limits.fileBytes` bytes, in UTF-8: a file that cannot be read or is not UTF-8 is an
    /// error that says why and where (line, column and byte offset of the first bad byte).
    public static func load(file path: String?, overrides: [String] = []) throws -> RunConfiguration {
        var bytes: [UInt8]? = nil
        if let path {
            do {
                bytes = try InputFile.readAll(path, maximumBytes: Limits.fileBytes, what: "a configuration file")
            } catch let error as InputFileError {
                throw ConfigurationError(key: "", problem: "cannot read the configuration file: \(error.problem)", source: path)
            }
        }
        return try resolve(fileBytes: bytes, source: path, overrides: overrides)
    }

    /// `load` from the bytes of a configuration file (nil: none), named `source` in errors.
    public static func resolve(fileBytes: [UInt8]?, source: String?, overrides: [String]) throws -> RunConfiguration {
        var c = RunConfiguration()
        if let fileBytes { c = try parse(yaml: decodeUTF8(fileBytes, source: source), source: source) }
        try c.apply(overrides: overrides)
        try c.validate(source: source)
        return c
    }

    /// The text of `bytes`, which must be valid UTF-8 (YAML's encoding).
    static func decodeUTF8(_ bytes: [UInt8], source: String?) throws -> String {
        var decoder = UTF8()
        var iterator = bytes.makeIterator()
        var offset = 0, line = 1, column = 1
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar):
                offset += UTF8.width(scalar)
                if scalar == "\n" { line += 1; column = 1 } else { column += 1 }
            case .emptyInput:
                return String(decoding: bytes, as: UTF8.self)
            case .error:
                let bad = offset < bytes.count ? String(bytes[offset], radix: 16, uppercase: true) : "?"
                throw ConfigurationError(key: "", problem: "not UTF-8 text: invalid byte 0x\(bad) at line \(line), column \(column) (byte offset \(offset))", source: source)
            }
        }
    }

    /// The resolved configuration as YAML (every key, in table order), readable by `parse`.
    public var yaml: String {
        Self.keys.map { "\($0.name): \($0.get(self))" }.joined(separator: "\n") + "\n"
    }

    /// A key name as quoted in errors: at most an excerpt of what the user wrote.
    private static func shortKey(_ name: String) -> String {
        name.utf8.count <= Excerpt.defaultLimit ? name : String(Excerpt.quote(name).dropFirst().dropLast())
    }

    /// An error's text cut to a short excerpt: a YAML error quotes the offending line (and
    /// may list many keys), which must not be copied whole into our message.
    private static func shortened(_ error: any Error) -> String {
        let lines = "\(error)".split(separator: "\n", omittingEmptySubsequences: false)
        let kept = lines.prefix(4).map { $0.utf8.count <= 160 ? String($0) : String(decoding: String($0).utf8.prefix(160), as: UTF8.self) + "… (\($0.utf8.count) bytes)" }
        return kept.joined(separator: "\n") + (lines.count > 4 ? "\n…" : "")
    }

    private static func suggestion(for name: String) -> String {
        let lower = name.lowercased()
        if let close = keys.map(\.name).first(where: { $0 == lower || $0.replacingUnderscores == lower.replacingUnderscores }) {
            return " (did you mean '\(close)'?)"
        }
        return ""
    }
}

private extension String {
    var replacingUnderscores: String { String(filter { $0 != "_" && $0 != "-" }) }
}

private func formatNumber(_ v: Double) -> String {
    if v == v.rounded() && abs(v) < 1e15 { return String(Int(v)) }
    return "\(v)"
}

/// `s` as a YAML scalar that reads back as exactly `s`: plain when that is unambiguous (a
/// conservative set: ASCII letters, digits and `/._-`, not starting with `-` or `.`, not a
/// number or a YAML keyword), else double-quoted (`QuotedString.json`: every character that YAML
/// would fold, strip or reject escaped). Leading and trailing spaces are kept by the quotes.
func quoteIfNeeded(_ s: String) -> String {
    let plainScalars = s.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "/._-".unicodeScalars.contains($0)) }
    let plain = !s.isEmpty && plainScalars && !s.hasPrefix("-") && !s.hasPrefix(".") && Double(s) == nil && Int(s) == nil
        && !["true", "false", "yes", "no", "on", "off", "null", "y", "n"].contains(s.lowercased())
    return plain ? s : QuotedString.json(s)
}

private extension Node {
    var describe: String {
        if let s = scalar?.string { return Excerpt.quote(s) }
        if let seq = sequence { return "a list of \(seq.count)" }
        if mapping != nil { return "a mapping" }
        return "an unsupported value"
    }
}
