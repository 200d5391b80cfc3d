import CounterRandom
import TensorKit
import TestSupport

// Shared helpers for the kernel tests: random buffers with stable addresses, naive-reference
// comparisons and a wrapper around GradientCheck with the projection loss.

extension FloatStorage {
    /// `count` draws of offset + scale·N(0, 1) from the fixed test stream.
    static func random(_ count: Int, seed: UInt64, scale: Float = 1, offset: Float = 0) -> FloatStorage {
        random(count, seed: seed, purpose: .test, scale: scale, offset: offset)
    }

    var values: [Float] { Array(buffer) }
    var doubles: [Double] { buffer.map(Double.init) }
    var readOnly: UnsafeBufferPointer<Float> { UnsafeBufferPointer(buffer) }
    func zero() { base.update(repeating: 0, count: count) }
}

/// max_i |actual_i − expected_i| / max_i |expected_i|: an error relative to the output's scale,
/// so that elements near zero do not dominate.
func scaledError(_ actual: [Float], _ expected: [Double]) -> Double {
    precondition(actual.count == expected.count, "size mismatch \(actual.count) vs \(expected.count)")
    var worst = 0.0, scale = 1e-30
    for (a, e) in zip(actual, expected) {
        worst = max(worst, abs(Double(a) - e))
        scale = max(scale, abs(e))
    }
    return worst / scale
}

/// The upstream gradient ∂L/∂y of the projection loss L = Σ w·y.
func upstream(_ count: Int, projection: GradientCheck.Projection = .init()) -> FloatStorage {
    FloatStorage.of(projection.weights(count: count))
}

/// Projection loss of an output buffer.
func projectedLoss(_ y: FloatStorage, projection: GradientCheck.Projection = .init()) -> Double {
    projection.loss(y.readOnly)
}

/// GradientCheck over (parameter, gradient) pairs; `loss` recomputes the forward pass.
///
/// The relative error's floor is 1% of ‖g‖ (the largest possible directional derivative): a
/// random direction nearly orthogonal to g gives an analytic value near 0, and its "relative"
/// error would then only measure the float rounding of the forward pass (≈ 1e-4 absolute at
/// ε = 1e-2). A wrong gradient element still shows up as an O(1) error.
func gradientError(_ pairs: [(FloatStorage, FloatStorage)], epsilon: Float = 1e-2, directions: Int = 4,
                   loss: () -> Double) -> Double {
    let norm = pairs.reduce(0.0) { total, pair in pair.1.buffer.reduce(total) { $0 + Double($1) * Double($1) } }.squareRoot()
    return GradientCheck.maxRelativeError(parameters: pairs.map { $0.0.buffer }, gradients: pairs.map { $0.1.readOnly },
                                          directions: directions, epsilon: epsilon, floor: max(1e-6, 1e-2 * norm),
                                          loss: loss)
}

/// Runs `backward` once on zeroed gradients, then again, and returns the largest scaled
/// difference between the second result and twice the first: ~0 when backward accumulates.
func accumulationError(_ gradients: [FloatStorage], backward: () -> Void) -> Double {
    for g in gradients { g.zero() }
    backward()
    let once = gradients.map(\.doubles)
    backward()
    var worst = 0.0
    for (g, first) in zip(gradients, once) {
        worst = max(worst, scaledError(g.values, first.map { 2 * $0 }))
    }
    return worst
}
