import Foundation
import HDF5Kit
import TestSupport
import Testing
@testable import MamFusion

struct CheckpointTests {
    static func temporaryPath(_ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mamfusion-ckpt-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent(name).path
    }

    @Test("parameters, optimiser moments, state and configuration round-trip bit for bit")
    func roundTrip() throws {
        let c = tinyConfiguration()
        let (p, m) = perturbedParameters(c, seed: 1)
        let v = ParameterSet(layout: p.layout)
        for i in 0..<m.storage.count { m.storage.base[i] = Float(i % 97) * 1e-3 - 0.01; v.storage.base[i] = Float(i % 89) * 1e-4 }
        var state = TrainingState()
        state.step = 1234; state.epoch = 3; state.batchInEpoch = 17; state.seed = 9527
        state.bestSumR = 177.5; state.bestEpoch = 2; state.epochsWithoutImprovement = 1
        let path = Self.temporaryPath("a.h5")
        try Checkpoint.write(to: path, parameters: p, expAvg: m, expAvgSq: v, state: state, configurationYAML: c.yaml)
        let p2 = ParameterSet(layout: p.layout), m2 = ParameterSet(layout: p.layout), v2 = ParameterSet(layout: p.layout)
        let (read, yaml, hasOptimizer) = try Checkpoint.read(from: path, into: p2, expAvg: m2, expAvgSq: v2)
        #expect(read == state && hasOptimizer)
        #expect(try RunConfiguration.parse(yaml: yaml ?? "") == c)
        for (a, b) in [(p, p2), (m, m2), (v, v2)] {
            for spec in p.layout.specs {
                #expect(a.tensor(spec).toArray().map(\.bitPattern) == b.tensor(spec).toArray().map(\.bitPattern), "\(spec.name)")
            }
        }
        // The reference names and PyTorch shapes are what is on disk.
        let file = try HDF5File.open(path)
        #expect(try file.openDataset("model/clip_encoder.attn0.self.query.weight").shape == [16, 16])
        #expect(try file.openDataset("model/clip_encoder_mamba.0.conv1d.weight").shape == [c.dimensions.mambaInner, 1, 4])
        #expect(FileManager.default.fileExists(atPath: path + ".tmp") == false)
    }

    @Test("a file written by another HDF5 writer with the reference names loads; mismatches are all reported by name")
    func foreignFilesAndMismatches() throws {
        let c = tinyConfiguration()
        let (p, _) = perturbedParameters(c, seed: 2)
        // A "converted reference" file: only /model, datasets as float64, no attributes.
        let good = Self.temporaryPath("converted.h5")
        do {
            let f = try HDF5File.create(good)
            let g = try f.createGroup("model")
            for s in p.layout.specs { _ = try g.createDataset(s.name, values: p.tensor(s).toArray().map(Double.init), shape: s.shape) }
        }
        let loaded = ParameterSet(layout: p.layout)
        let (state, yaml, hasOptimizer) = try Checkpoint.read(from: good, into: loaded)
        #expect(state == TrainingState() && yaml == nil && !hasOptimizer)
        #expect(loaded.storage.buffer.elementsEqual(p.storage.buffer))

        let bad = Self.temporaryPath("bad.h5")
        do {
            let f = try HDF5File.create(bad)
            let g = try f.createGroup("model")
            for s in p.layout.specs where s.name != "query_encoder.self.key.bias" {
                let shape = s.name == "frame_input_proj.net.1.weight" ? [3, 3] : s.shape
                _ = try g.createDataset(s.name, values: [Float](repeating: 0, count: shape.reduce(1, *)), shape: shape)
            }
            _ = try g.createDataset("extra.weight", values: [Float(1)], shape: [1])
        }
        let error = #expect(throws: CheckpointError.self) { try Checkpoint.read(from: bad, into: ParameterSet(layout: p.layout)) }
        let text = error?.description ?? ""
        #expect(error?.problems.count == 3)
        #expect(text.contains("query_encoder.self.key.bias: missing"))
        #expect(text.contains("frame_input_proj.net.1.weight: shape 3x3, expected 16x20"))
        #expect(text.contains("extra.weight: not a parameter"))
    }

    @Test("a checkpoint of another configuration is rejected with the differing tensors named")
    func otherConfiguration() throws {
        let c = tinyConfiguration()
        let (p, _) = perturbedParameters(c, seed: 3)
        let path = Self.temporaryPath("c.h5")
        try Checkpoint.write(to: path, parameters: p, state: TrainingState(), configurationYAML: c.yaml)
        var other = c
        other.maxContextLength = 20
        let error = #expect(throws: CheckpointError.self) {
            try Checkpoint.read(from: path, into: ParameterSet(layout: .mamFusion(other.dimensions)))
        }
        #expect(error?.problems.count == 2)  // clip_pos_embed and frame_pos_embed tables
        #expect(error?.description.contains("frame_pos_embed.position_embeddings.weight: shape 12x16, expected 20x16") == true)
    }

    @Test("a checkpoint records its model; loading it under the other model is an error naming both")
    func modelRecord() throws {
        var gmm = tinyConfiguration()
        gmm.model = GMMFormerModel.name
        let (p, _) = perturbedParameters(gmm, seed: 4)
        #expect(p.layout.model == GMMFormerModel.name && p.layout.spec(named: "clip_encoder_mamba.0.D") == nil)
        let path = Self.temporaryPath("gmm.h5")
        try Checkpoint.write(to: path, parameters: p, state: TrainingState(), configurationYAML: gmm.yaml)
        #expect(try HDF5File.open(path).stringAttribute("model") == "gmmformer")
        let loaded = ParameterSet(layout: p.layout)
        let (_, yaml, _) = try Checkpoint.read(from: path, into: loaded)
        #expect(loaded.storage.buffer.elementsEqual(p.storage.buffer))
        #expect(try RunConfiguration.parse(yaml: yaml ?? "").model == GMMFormerModel.name)

        let mamFusion = ParameterSet(layout: .mamFusion(gmm.dimensions))
        let error = #expect(throws: CheckpointError.self) { try Checkpoint.read(from: path, into: mamFusion) }
        #expect(error?.problems.count == 1)
        #expect(error?.description.contains("holds a gmmformer model, but the configuration's model is mamfusion") == true, "\(error?.description ?? "")")
        #expect(error?.description.contains("set model: gmmformer") == true)

        // A MamFusion checkpoint under GMMFormer is an error naming both.
        let (m, _) = perturbedParameters(tinyConfiguration(), seed: 5)
        let mamFusionPath = Self.temporaryPath("mf.h5")
        try Checkpoint.write(to: mamFusionPath, parameters: m, state: TrainingState(), configurationYAML: tinyConfiguration().yaml)
        let other = #expect(throws: CheckpointError.self) { try Checkpoint.read(from: mamFusionPath, into: ParameterSet(layout: p.layout)) }
        #expect(other?.description.contains("holds a mamfusion model, but the configuration's model is gmmformer") == true)
        try Checkpoint.read(from: mamFusionPath, into: ParameterSet(layout: m.layout))
    }

    @Test("a file without the model record (older checkpoints, converted reference files) is read by the converter's rule: Mamba tensors make it MamFusion, else GMMFormer",
          arguments: prvrModels)
    func unlabelledFiles(model: String) throws {
        var c = tinyConfiguration()
        c.model = model
        let (p, _) = perturbedParameters(c, seed: 6)
        let legacy = Self.temporaryPath("legacy-\(model).h5")
        do {
            let f = try HDF5File.create(legacy)
            let g = try f.createGroup("model")
            for s in p.layout.specs { _ = try g.createDataset(s.name, values: p.tensor(s).toArray(), shape: s.shape) }
        }
        #expect(ModelRegistry.model(ofUnlabelledCheckpoint: Set(p.layout.specs.map(\.name)))?.name == model)
        var muse = tinyConfiguration()
        muse.model = MUSEModel.name
        #expect(ModelRegistry.model(ofUnlabelledCheckpoint: Set(muse.parameterLayout.specs.map(\.name)))?.name != MamFusionModel.name,
                "MUSE's MS_mamba blocks are not MamFusion's Mamba units")
        let loaded = ParameterSet(layout: p.layout)
        try Checkpoint.read(from: legacy, into: loaded)
        #expect(loaded.storage.buffer.elementsEqual(p.storage.buffer))
        var other = c
        other.model = prvrModels.first { $0 != model }!
        let error = #expect(throws: CheckpointError.self) { try Checkpoint.read(from: legacy, into: ParameterSet(layout: other.parameterLayout)) }
        #expect(error?.description.contains("holds a \(model) model, but the configuration's model is \(other.model)") == true,
                "\(error?.description ?? "")")
    }
}
