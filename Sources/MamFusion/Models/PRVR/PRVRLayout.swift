/// The tensors of the PRVR encoders (MODEL.md §1–2; PARAMETERS.md) in the reference `state_dict`
/// order, under the reference names, for a model that adds its own: `afterBlock` declares what
/// follows each GMMBlock (MamFusion: a Mamba unit, named after the block), `tail` what comes after
/// the encoders (MamFusion: the fusion modules). GMMFormer adds nothing (MODEL.md §10).
enum PRVRLayout {
    static func build(model: String, dimensions dims: ModelDimensions, groups: [ParameterGroup],
                      afterBlock: (String, inout ParameterLayout.Builder) -> Void = { _, _ in },
                      tail: (inout ParameterLayout.Builder) -> Void = { _ in }) -> ParameterLayout {
        let d = dims.hidden
        var b = ParameterLayout.Builder(group: .query)
        func positional(_ name: String, positions: Int) {
            b.tensor("\(name).position_embeddings.weight", [positions, d], .embedding)
            b.layerNorm("\(name).LayerNorm", d)
        }
        func inputProjection(_ name: String, from n: Int) {
            b.layerNorm("\(name).LayerNorm", n)
            b.linear("\(name).net.1", out: d, in: n)
        }
        func attention(_ name: String) {
            b.linear("\(name).self.query", out: d, in: d)
            b.linear("\(name).self.key", out: d, in: d)
            b.linear("\(name).self.value", out: d, in: d)
            b.linear("\(name).output.dense", out: d, in: d)
            b.layerNorm("\(name).output.LayerNorm", d)
        }
        func gmmBlock(_ name: String) {
            for branch in 0..<GMMBlockWidths.all.count { attention("\(name).attn\(branch)") }
            afterBlock(name, &b)
        }
        b.group = .query
        positional("query_pos_embed", positions: dims.maxDescriptionLength)
        b.group = .clip
        positional("clip_pos_embed", positions: dims.maxContextLength)
        b.group = .frame
        positional("frame_pos_embed", positions: dims.maxContextLength)
        b.group = .query
        inputProjection("query_input_proj", from: dims.queryFeature)
        attention("query_encoder")
        b.group = .clip
        inputProjection("clip_input_proj", from: dims.visualFeature)
        VideoBranch.blockNames(.clip).forEach(gmmBlock)
        b.group = .frame
        inputProjection("frame_input_proj", from: dims.visualFeature)
        VideoBranch.blockNames(.frame).forEach(gmmBlock)
        b.group = .query
        b.tensor("modular_vector_mapping.weight", [1, d], .linearWeight)
        b.group = .frame
        b.tensor("modular_vector_mapping_2.weight", [1, d], .linearWeight)
        tail(&b)
        return b.layout(model: model, groups: groups)
    }
}
