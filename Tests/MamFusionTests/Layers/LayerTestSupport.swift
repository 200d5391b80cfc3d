import CounterRandom
import TensorKit
import TestSupport
@testable import MamFusion

/// Runs `GradientCheck` on a layer: `forward()` recomputes the output (count `outputCount`)
/// from the current inputs/parameters and returns its pointer; `backward(dy)` must accumulate
/// into the gradient buffers listed in `checked` (their values are zeroed first).
func layerGradientError(checked: [(value: UnsafeMutableBufferPointer<Float>, gradient: UnsafeMutableBufferPointer<Float>)],
                        outputCount: Int, epsilon: Float = 1e-2, directions: Int = 3, check: PrecisionCheck = .reference,
                        forward: () -> UnsafePointer<Float>, backward: (UnsafePointer<Float>) -> Void) -> Double {
    let projection = GradientCheck.Projection(seed: 99)
    let w = projection.weights(count: outputCount)
    for c in checked { c.gradient.update(repeating: 0) }
    withEngine(check.selection) {
        _ = forward()
        w.withUnsafeBufferPointer { backward($0.baseAddress!) }
    }
    let gradients = checked.map { UnsafeBufferPointer($0.gradient) }
    let error = GradientCheck.maxRelativeError(parameters: checked.map(\.value), gradients: gradients,
                                               directions: directions, epsilon: epsilon) {
        withEngine(check.twin) { projection.loss(UnsafeBufferPointer(start: forward(), count: outputCount)) }
    }
    if check.selection.precision == .bf16 { print("bf16 backward against its fp32 twin (\(check)): max relative error \(error)") }
    return error
}

extension ParameterSet {
    func buffer(_ name: String) -> UnsafeMutableBufferPointer<Float> { tensor(name).buffer }
}

extension Tensor {
    var mutableBuffer: UnsafeMutableBufferPointer<Float> { buffer }
}
