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
