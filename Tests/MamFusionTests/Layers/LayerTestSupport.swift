import CounterRandom
import TensorKit
import TestSupport
@testable import MamFusion

/// A tiny configuration every layer test uses (any sizes work; these keep debug builds fast).
func tinyConfiguration(heads: Int = 2) -> RunConfiguration {
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
func perturbedParameters(_ c: RunConfiguration, seed: UInt64 = 7) -> (ParameterSet, ParameterSet) {
    let layout = ParameterLayout.mamFusion(c.dimensions)
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
func randomBuffer(_ count: Int, seed: UInt64, scale: Float = 1) -> Tensor {
    let t = Tensor(shape: [count])
    RandomStream(seed: seed, purpose: .test, step: 2).fillNormal(t.buffer, std: scale)
    return t
}

/// Runs `GradientCheck` on a layer: `forward()` recomputes the output (count `outputCount`)
/// from the current inputs/parameters and returns its pointer; `backward(dy)` must accumulate
/// into the gradient buffers listed in `checked` (their values are zeroed first).
func layerGradientError(checked: [(value: UnsafeMutableBufferPointer<Float>, gradient: UnsafeMutableBufferPointer<Float>)],
                        outputCount: Int, epsilon: Float = 1e-2, directions: Int = 3,
                        forward: () -> UnsafePointer<Float>, backward: (UnsafePointer<Float>) -> Void) -> Double {
    let projection = GradientCheck.Projection(seed: 99)
    let w = projection.weights(count: outputCount)
    for c in checked { c.gradient.update(repeating: 0) }
    _ = forward()
    w.withUnsafeBufferPointer { backward($0.baseAddress!) }
    let gradients = checked.map { UnsafeBufferPointer($0.gradient) }
    return GradientCheck.maxRelativeError(parameters: checked.map(\.value), gradients: gradients,
                                          directions: directions, epsilon: epsilon) {
        projection.loss(UnsafeBufferPointer(start: forward(), count: outputCount))
    }
}

extension ParameterSet {
    func buffer(_ name: String) -> UnsafeMutableBufferPointer<Float> { tensor(name).buffer }
}

extension Tensor {
    var mutableBuffer: UnsafeMutableBufferPointer<Float> { buffer }
}
