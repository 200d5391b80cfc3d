import Foundation
import Testing
@testable import MamFusion

struct RunConfigurationTests {
    static func configFile(_ name: String) throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return try String(contentsOf: root.appendingPathComponent("Configs/\(name)"), encoding: .utf8)
    }

    @Test("the shipped configurations carry the reference values and parameter counts")
    func shippedConfigurations() throws {
        let tvr = try RunConfiguration.parse(yaml: Self.configFile("tvr.yaml"))
        #expect(tvr == RunConfiguration().with { $0.outputDirectory = "runs/tvr" })
        #expect(ParameterLayout.mamFusion(tvr.dimensions).parameterCount == 18_372_480)
        let anet = try RunConfiguration.parse(yaml: Self.configFile("activitynet.yaml"))
        #expect(anet.batchSize == 64 && anet.dropout == 0.18 && anet.visualFeature == "i3d")
        #expect(ParameterLayout.mamFusion(anet.dimensions).parameterCount == 16_693_632)
        let ch = try RunConfiguration.parse(yaml: Self.configFile("charades.yaml"))
        #expect(ch.heads == 4 && ch.lossFactor == [0.008, 0.01, 0.005] && ch.negativeFactor == [0.15, 32])
        #expect(ch.learningRate == 3.8e-4 && ch.epochs == 400 && ch.maxEarlyStopCount == 10 && ch.hardNegativeStartEpoch == 100)
        #expect(ParameterLayout.mamFusion(ch.dimensions).parameterCount == 17_283_456)
    }

    @Test("the shipped GMMFormer configurations carry the reference values of MODEL.md §10")
    func gmmFormerConfigurations() throws {
        for (file, lr, hard, inputDrop, drop, margin, lf, nf) in [
            ("gmmformer-tvr.yaml", 3e-4, 30, 0.2, 0.2, 0.1, [0.05, 0.04, 0.001], [0.15, 32.0]),
            ("gmmformer-activitynet.yaml", 2.5e-4, 20, 0.2, 0.2, 0.2, [0.02, 0.04, 0.015], [0.2, 32.0]),
            ("gmmformer-charades.yaml", 2.5e-4, 100, 0.15, 0.15, 0.2, [0.02, 0.02, 0.005], [0.15, 32.0]),
        ] {
            let c = try RunConfiguration.parse(yaml: Self.configFile(file))
            #expect(c.model == GMMFormerModel.name, "\(file)")
            #expect(c.batchSize == 128 && c.epochs == 100 && c.maxEarlyStopCount == 10 && c.heads == 4, "\(file)")
            #expect(c.maxContextLength == 128 && c.maxDescriptionLength == 30 && c.mapSize == 32 && c.hardPoolSize == 20, "\(file)")
            #expect(c.clipScaleWeight == 0.7 && c.frameScaleWeight == 0.3, "\(file)")
            #expect(c.learningRate == lr && c.hardNegativeStartEpoch == hard && c.inputDropout == inputDrop && c.dropout == drop, "\(file)")
            #expect(c.margin == margin && c.lossFactor == lf && c.negativeFactor == nf, "\(file)")
            // The same data as the MamFusion configuration of the collection.
            let mamFusion = try RunConfiguration.parse(yaml: Self.configFile(String(file.dropFirst("gmmformer-".count))))
            #expect(c.collection == mamFusion.collection && c.visualFeature == mamFusion.visualFeature, "\(file)")
            #expect(c.visualFeatureSize == mamFusion.visualFeatureSize && c.queryFeatureSize == mamFusion.queryFeatureSize, "\(file)")
        }
    }

    @Test("model: mamfusion by default, gmmformer or muse on request, anything else an error naming every model")
    func modelKey() throws {
        #expect(RunConfiguration().model == MamFusionModel.name)
        #expect(try RunConfiguration.parse(yaml: "model: gmmformer").model == GMMFormerModel.name)
        var c = RunConfiguration()
        try c.apply(overrides: ["model=gmmformer"])
        #expect(c.model == GMMFormerModel.name && c.yaml.hasPrefix("model: gmmformer\n"))
        #expect(try RunConfiguration.parse(yaml: c.yaml) == c)
        try c.apply(overrides: ["model=muse", "lr_schedule=warmup_cosine", "adam_beta2=0.98", "grad_divisor=8", "muse_train_pyramid=true"])
        #expect(c.model == MUSEModel.name && c.learningRateSchedule == .warmupCosine && c.museTrainPyramid)
        #expect(try RunConfiguration.parse(yaml: c.yaml) == c, "the MUSE keys round-trip")
        #expect(throws: ConfigurationError(key: "lr_schedule", problem: "expected warmup_linear or warmup_cosine, got 'cosine'")) {
            try RunConfiguration.parse(yaml: "lr_schedule: cosine")
        }
        // The built-in models, then any the tests registered (`TestModels`: this process may hold the toy).
        let unknown = #expect(throws: ConfigurationError.self) { try RunConfiguration.parse(yaml: "model: mamba", source: "x.yaml") }
        #expect(unknown?.key == "model" && unknown?.source == "x.yaml"
                && unknown?.problem == "expected \(ModelRegistry.names.joined(separator: " or ")), got 'mamba'"
                && unknown?.problem.hasPrefix("expected mamfusion or gmmformer or muse") == true, "\(unknown?.description ?? "")")
        #expect(throws: ConfigurationError(key: "data_layout", problem: "expected release or packed or clip-tokens, got 'zip'")) {
            try RunConfiguration.parse(yaml: "data_layout: zip")
        }
    }

    @Test("the resolved YAML parses back to the same configuration")
    func roundTrip() throws {
        var c = RunConfiguration()
        try c.apply(overrides: ["lr=1e-3", "loss_factor=[1, 2.5, 3]", "data_root=/tmp/a b", "dropout=false", "collection=true"])
        #expect(c.learningRate == 1e-3 && c.lossFactor == [1, 2.5, 3] && c.dataRoot == "/tmp/a b" && !c.dropoutEnabled)
        #expect(try RunConfiguration.parse(yaml: c.yaml) == c)
    }

    @Test("unknown keys and bad values are errors naming the key")
    func errors() {
        #expect(throws: ConfigurationError(key: "hiden_size", problem: "unknown key", source: "x.yaml")) {
            try RunConfiguration.parse(yaml: "hiden_size: 3", source: "x.yaml")
        }
        #expect(throws: ConfigurationError(key: "batchsize", problem: "expected an integer, got 'many'")) {
            try RunConfiguration.parse(yaml: "batchsize: many")
        }
        #expect(throws: ConfigurationError(key: "drop", problem: "must be < 1.0, got 1.0")) {
            var c = RunConfiguration()
            try c.set("drop", yaml: "1")
        }
        #expect(throws: ConfigurationError(key: "loss_factor", problem: "expected a list of 3 numbers, got a list of 2")) {
            try RunConfiguration.parse(yaml: "loss_factor: [1, 2]")
        }
        #expect(throws: ConfigurationError(key: "n_heads", problem: "must divide hidden_size (384), got 5")) {
            try RunConfiguration.parse(yaml: "n_heads: 5")
        }
        #expect(throws: ConfigurationError(key: "LR", problem: "unknown key (did you mean 'lr'?)")) {
            var c = RunConfiguration()
            try c.apply(overrides: ["LR=3"])
        }
        #expect(throws: ConfigurationError.self) { var c = RunConfiguration(); try c.apply(overrides: ["noequals"]) }
        let duplicate = #expect(throws: ConfigurationError.self) { try RunConfiguration.parse(yaml: "seed: 1\nseed: 2") }
        #expect(duplicate?.description.contains("'seed'") == true)
    }
}

extension RunConfiguration {
    func with(_ change: (inout RunConfiguration) -> Void) -> RunConfiguration {
        var c = self
        change(&c)
        return c
    }
}

/// The resolved configuration that training saves (config.yaml) always loads
/// back to the same values, whatever the strings hold.
struct ConfigurationRoundTripTests {
    static let awkward: [String] = [
        "", " ", "-", "--", "- x", "-x", "a\nb", "a\r\nb", "line\n", "\ttab", "nul\u{0}byte", "bell\u{7}", "del\u{7F}", "c1\u{85}",
        "ls\u{2028}ps\u{2029}", "bom\u{FEFF}", "'single'", "\"double\"", "back\\slash", "\\n literally", "key: value", "a:b", "#comment",
        "a #b", " lead", "trail ", "  both  ", "ünïcödé", "日本語", "emoji 😀", "null", "~", "true", "NO", "y", "1e3", "0x10", ".inf",
        "[a]", "{a: 1}", "&anchor", "*alias", "!tag", "|", ">", "%", "@", "`", "?", ",", "...", "---", "=", "a=b", "/data/prvr/", "./runs/x",
    ]

    @Test("awkward strings in every text key survive config.yaml", arguments: awkward)
    func roundTrip(text: String) throws {
        var c = RunConfiguration()
        c.dataRoot = text
        c.packedFile = text
        // collection, visual_feature and output_dir must not be empty.
        if !text.isEmpty {
            c.collection = text
            c.visualFeature = text
            c.outputDirectory = text
        }
        let loaded = try RunConfiguration.parse(yaml: c.yaml, source: "config.yaml")
        #expect(loaded == c, "\(c.yaml)")
    }

    @Test("every integer key has an upper bound, and values at the bound load")
    func bounds() throws {
        #expect(throws: ConfigurationError(key: "hidden_size", problem: "must be ≤ 8192 (the documented maximum), got 8193")) {
            try RunConfiguration.parse(yaml: "hidden_size: 8193")
        }
        #expect(throws: ConfigurationError(key: "max_ctx_l", problem: "must be ≤ 16384 (the documented maximum), got 4611686018427387904")) {
            try RunConfiguration.parse(yaml: "max_ctx_l: 4611686018427387904")
        }
        let atBounds = try RunConfiguration.parse(yaml: "max_ctx_l: 16384\nbatchsize: 65536\ngradient_bucket_mib: 4096")
        #expect(atBounds.maxContextLength == 16384 && atBounds.batchSize == 65536)
        var c = RunConfiguration()
        c.hiddenSize = 1 << 20  // set in code, past the key check: validate still refuses it
        #expect(throws: ConfigurationError.self) { try c.validate() }
    }
}
