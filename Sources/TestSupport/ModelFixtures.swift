import CounterRandom
import MamFusion
import TensorKit

/// A tiny configuration for model tests (any sizes work; these keep debug builds fast).
public func tinyConfiguration(heads: Int = 2) -> RunConfiguration {
    var c = RunConfiguration()
    c.hiddenSize = 16
    c.heads = heads
    c.queryFeatureSize = 12
    c.visualFeatureSize = 20
    c.maxDescriptionLength = 7
    c.maxContextLength = 12
    c.mapSize = 4
    c.inputDropout = 0.2
    c.dropout = 0.3
    return c
}

/// Parameters initialised as the model does, then perturbed so LayerNorm affine terms, biases and
/// A_log are not at their special initial values (which would hide gradient bugs).
public func perturbedParameters(_ c: RunConfiguration, seed: UInt64 = 7) -> (ParameterSet, ParameterSet) {
    let layout = c.parameterLayout
    let p = ParameterSet(layout: layout)
    ParameterInitializer.initialize(p, seed: seed)
    let s = RandomStream(seed: seed, purpose: .test, step: 1)
    for (i, spec) in layout.specs.enumerated() where !spec.kind.isUnused {
        let t = p.tensor(spec)
        let scale: Float = spec.kind == .linearWeight || spec.kind == .embedding ? 0.3 : 0.1
        for j in 0..<t.count { t.pointer[j] += scale * s.normal(at: i * 100_000 + j) }
    }
    return (p, ParameterSet(layout: layout))
}

/// Random values ~ N(0, scale²).
public func randomBuffer(_ count: Int, seed: UInt64, scale: Float = 1) -> Tensor {
    let t = Tensor(shape: [count])
    RandomStream(seed: seed, purpose: .test, step: 2).fillNormal(t.buffer, std: scale)
    return t
}

/// The PRVR models tests run every model-level check on (names, as configurations give them).
public let prvrModels = [MamFusionModel.name, GMMFormerModel.name]

extension RunConfiguration {
    /// The default configuration with these model sizes.
    public init(dimensions dims: ModelDimensions) {
        self.init()
        hiddenSize = dims.hidden
        heads = dims.heads
        queryFeatureSize = dims.queryFeature
        visualFeatureSize = dims.visualFeature
        maxDescriptionLength = dims.maxDescriptionLength
        maxContextLength = dims.maxContextLength
        mapSize = dims.mapSize
    }
}

extension ParameterLayout {
    /// MamFusion's layout for these sizes (test shorthand).
    public static func mamFusion(_ dims: ModelDimensions) -> ParameterLayout { MamFusionModel.layout(RunConfiguration(dimensions: dims)) }
    /// GMMFormer's layout for these sizes (test shorthand).
    public static func gmmFormer(_ dims: ModelDimensions) -> ParameterLayout { GMMFormerModel.layout(RunConfiguration(dimensions: dims)) }
}
