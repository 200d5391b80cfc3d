import Foundation
import Testing
@testable import MamFusion

struct ParameterLayoutTests {
    static func referenceTable() throws -> [(name: String, shape: String, count: Int)] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/reference-parameters-tvr.tsv")
        return try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map { line in
            let f = line.split(separator: "\t").map(String.init)
            return (f[0], f[1], Int(f[2])!)
        }
    }

    @Test("TVR layout has the reference's 249 names, shapes and order, 18,372,480 values")
    func tvrMatchesReference() throws {
        let layout = ParameterLayout.mamFusion(ModelDimensions())
        let reference = try Self.referenceTable()
        #expect(layout.specs.count == 249)
        #expect(layout.parameterCount == 18_372_480)
        for (spec, ref) in zip(layout.specs, reference) {
            #expect(spec.name == ref.name)
            #expect(spec.shapeDescription == ref.shape, "\(spec.name)")
            #expect(spec.count == ref.count, "\(spec.name)")
        }
    }

    @Test("ActivityNet and Charades configurations have the reference counts")
    func otherConfigurations() {
        let anet = ModelDimensions(hidden: 384, heads: 8, queryFeature: 1024, visualFeature: 1024, maxContextLength: 256)
        #expect(ParameterLayout.mamFusion(anet).parameterCount == 16_693_632)
        let charades = ModelDimensions(hidden: 384, heads: 4, queryFeature: 1024, visualFeature: 1024, maxContextLength: 1024)
        #expect(ParameterLayout.mamFusion(charades).parameterCount == 17_283_456)
    }

    /// The three reference configurations of each model (MODEL.md §7, §10): the shipped files.
    static func shipped(_ file: String) throws -> RunConfiguration {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return try RunConfiguration.parse(yaml: String(contentsOf: root.appendingPathComponent("Configs/\(file).yaml"), encoding: .utf8))
    }

    /// The reference TVR table rewritten for other sizes: only these tensors' shapes depend on
    /// the configuration (d = 384 in every reference configuration).
    static func expectedShape(_ name: String, referenceShape: String, _ c: RunConfiguration) -> String {
        switch name {
        case "query_pos_embed.position_embeddings.weight": return "\(c.maxDescriptionLength)x384"
        case "clip_pos_embed.position_embeddings.weight", "frame_pos_embed.position_embeddings.weight": return "\(c.maxContextLength)x384"
        case "query_input_proj.LayerNorm.weight", "query_input_proj.LayerNorm.bias": return "\(c.queryFeatureSize)"
        case "query_input_proj.net.1.weight": return "384x\(c.queryFeatureSize)"
        case "clip_input_proj.LayerNorm.weight", "clip_input_proj.LayerNorm.bias",
             "frame_input_proj.LayerNorm.weight", "frame_input_proj.LayerNorm.bias": return "\(c.visualFeatureSize)"
        case "clip_input_proj.net.1.weight", "frame_input_proj.net.1.weight": return "384x\(c.visualFeatureSize)"
        default: return referenceShape
        }
    }

    @Test("both models in the three reference configurations: the reference names (GMMFormer: without Mamba units and fusion modules), shapes, order and totals",
          arguments: [("tvr", 249, 18_372_480), ("activitynet", 249, 16_693_632), ("charades", 249, 17_283_456),
                      ("gmmformer-tvr", 193, 12_848_256), ("gmmformer-activitynet", 193, 11_366_016), ("gmmformer-charades", 193, 11_366_016)])
    func shippedConfigurations(file: String, tensors: Int, total: Int) throws {
        let c = try Self.shipped(file)
        #expect(c.model == (file.hasPrefix("gmmformer") ? GMMFormerModel.name : MamFusionModel.name))
        let layout = c.parameterLayout
        #expect(layout.model == c.model)
        let expected = try Self.referenceTable().filter { c.model == MamFusionModel.name || !($0.name.contains("_mamba.") || $0.name.contains("_fusion.")) }
        #expect(layout.specs.map(\.name) == expected.map(\.name))
        for (spec, reference) in zip(layout.specs, expected) {
            #expect(spec.shapeDescription == Self.expectedShape(spec.name, referenceShape: reference.shape, c), "\(file): \(spec.name)")
        }
        #expect(layout.specs.count == tensors)
        #expect(layout.parameterCount == total, "\(file)")
    }

    @Test("GMMFormer has no fusion or unused group: every tensor is trained, in the frame, clip and query groups")
    func gmmFormerGroups() {
        let layout = ParameterLayout.gmmFormer(ModelDimensions(hidden: 40, heads: 4, queryFeature: 12, visualFeature: 20,
                                                               maxDescriptionLength: 5, maxContextLength: 9, mapSize: 4))
        #expect(layout.range(of: .fusion).isEmpty && layout.range(of: .unused).isEmpty)
        #expect(layout.specs.allSatisfy { [.frame, .clip, .query].contains($0.group) && !$0.kind.isUnused })
        #expect(layout.range(of: .query).upperBound == layout.bufferCount)
        let mamFusion = ParameterLayout.mamFusion(ModelDimensions(hidden: 40, heads: 4, queryFeature: 12, visualFeature: 20,
                                                                  maxDescriptionLength: 5, maxContextLength: 9, mapSize: 4))
        for spec in layout.specs { #expect(mamFusion[spec.name].group == spec.group && mamFusion[spec.name].kind == spec.kind, "\(spec.name)") }
    }

    @Test("one Mamba unit has 963,840 parameters (LayerNorm excluded)")
    func mambaCount() {
        let layout = ParameterLayout.mamFusion(ModelDimensions())
        let n = layout.specs.filter { $0.name.hasPrefix("clip_encoder_mamba.0.") }.reduce(0) { $0 + $1.count }
        #expect(n == 963_840)
    }

    @Test("tensors are 64-byte aligned and disjoint; each group is one contiguous range, in backward order")
    func alignmentAndGroups() {
        let layout = ParameterLayout.mamFusion(ModelDimensions(hidden: 40, heads: 4, queryFeature: 12, visualFeature: 20,
                                                               maxDescriptionLength: 5, maxContextLength: 9, mapSize: 4))
        let byOffset = layout.specs.sorted { $0.offset < $1.offset }
        var end = 0
        for s in byOffset {
            #expect(s.offset % ParameterLayout.alignment == 0)
            #expect(s.offset >= end)
            #expect(layout.range(of: s.group).contains(s.offset) && s.offset + s.count <= layout.range(of: s.group).upperBound, "\(s.name)")
            end = s.offset + s.count
        }
        #expect(end <= layout.bufferCount)
        #expect(layout.groups == [.fusion, .frame, .clip, .query, .unused])
        var groupStart = 0
        for group in layout.groups {
            #expect(layout.range(of: group).lowerBound == groupStart, "\(group)")
            groupStart = layout.range(of: group).upperBound
        }
        #expect(groupStart == layout.bufferCount)
        let set = ParameterSet(layout: layout)
        set.tensor("query_encoder.self.key.weight").fill(3)
        #expect(set.storage.buffer.filter { $0 == 3 }.count == 40 * 40)
    }

    @Test("every tensor is in the group of the module that computes with it")
    func groups() {
        let layout = ParameterLayout.mamFusion(ModelDimensions())
        for spec in layout.specs {
            let expected: ParameterGroup
            if spec.name.contains("vid_embed_proj") { expected = .unused }
            else if spec.name.hasPrefix("v2t_fusion.") || spec.name.hasPrefix("t2v_fusion.") { expected = .fusion }
            else if spec.name.hasPrefix("frame_") || spec.name.hasPrefix("modular_vector_mapping_2.") { expected = .frame }
            else if spec.name.hasPrefix("clip_") { expected = .clip }
            else if spec.name.hasPrefix("query_") || spec.name.hasPrefix("modular_vector_mapping.") { expected = .query }
            else { Issue.record("unexpected tensor \(spec.name)"); continue }
            #expect(spec.group == expected, "\(spec.name)")
        }
    }
}
