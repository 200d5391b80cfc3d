import CounterRandom

/// Finite-difference checks of hand-written backward passes, for every layer test.
///
/// The check is directional: draw a random unit direction u over all checked buffers, compare
/// the analytic derivative g·u with the central difference (L(x+εu) − L(x−εu)) / 2ε. One
/// direction tests every element's gradient at once (a wrong element shows up unless it is
/// exactly orthogonal to u), and a few directions make a miss vanishingly unlikely.
///
/// float32 tolerances: the forward runs in Float, so L carries a relative rounding error of
/// roughly 1e-7·(size of the computation); with ε around 1e-2 … 1e-3 the central difference has
/// truncation error O(ε²·L''') and rounding error O(1e-7·|L|/ε). The loss should be made
/// O(1) (e.g. a random projection of the outputs) and accumulated in Double. A relative error
/// below ~1e-2 then means the backward is right; a wrong backward is typically off by O(1).
///
/// A direction that happens to be nearly orthogonal to the gradient gives a derivative far below
/// its typical size ‖g‖/√n, and then the float rounding of the central difference, not the
/// backward, dominates the comparison (seen with OpenBLAS kernels that round differently). The
/// relative error is therefore never taken against less than a tenth of that typical size:
/// in a typical direction this changes nothing, and a wrong gradient, which is off by O(‖g‖/√n)
/// in every direction, still shows up.
public enum GradientCheck {
    /// One directional comparison.
    public struct Result: Sendable, CustomStringConvertible {
        public let analytic: Double
        public let numeric: Double
        /// |analytic − numeric| / max(|analytic|, |numeric|, floor).
        public let relativeError: Double
        public var description: String {
            "analytic \(analytic) numeric \(numeric) relative error \(relativeError)"
        }
    }

    /// Compares `gradients` (∂loss/∂parameters, computed by the backward under test at the
    /// current parameters) with central differences of `loss` along `directions` random
    /// directions. `loss` must recompute the forward pass from the current contents of
    /// `parameters` (which are perturbed in place and restored exactly afterwards).
    ///
    /// - Parameters:
    ///   - floor: the smallest denominator of the relative error, so that a derivative that is
    ///     truly ~0 does not turn rounding noise into a large relative error. The denominator is
    ///     also never below 0.1·‖g‖/√n (see the type's comment).
    public static func directional(parameters: [UnsafeMutableBufferPointer<Float>],
                                   gradients: [UnsafeBufferPointer<Float>],
                                   directions: Int = 3,
                                   epsilon: Float = 1e-2,
                                   floor: Double = 1e-6,
                                   seed: UInt64 = 12345,
                                   loss: () -> Double) -> [Result] {
        precondition(parameters.count == gradients.count, "one gradient buffer per parameter buffer")
        for (p, g) in zip(parameters, gradients) {
            precondition(p.count == g.count, "gradient and parameter sizes differ (\(g.count) vs \(p.count))")
        }
        let saved = parameters.map { Array($0) }
        var gradientNorm2 = 0.0, elements = 0
        for g in gradients {
            for x in g { gradientNorm2 += Double(x) * Double(x) }
            elements += g.count
        }
        let typicalDerivative = gradientNorm2.squareRoot() / Double(max(elements, 1)).squareRoot()
        var results: [Result] = []
        for d in 0..<directions {
            let stream = RandomStream(seed: seed, purpose: .test, step: UInt32(d))
            // Random Gaussian direction, normalised to unit length over all buffers.
            var u: [[Float]] = []
            var offset = 0
            var norm2 = 0.0
            for p in parameters {
                let v = (0..<p.count).map { stream.normal(at: offset + $0) }
                offset += p.count
                norm2 += v.reduce(0.0) { $0 + Double($1) * Double($1) }
                u.append(v)
            }
            let scale = Float(1 / max(norm2.squareRoot(), 1e-30))
            var analytic = 0.0
            for (i, g) in gradients.enumerated() {
                for j in 0..<g.count { analytic += Double(g[j]) * Double(u[i][j] * scale) }
            }
            func evaluate(_ sign: Float) -> Double {
                for (i, p) in parameters.enumerated() {
                    for j in 0..<p.count { p[j] = saved[i][j] + sign * epsilon * u[i][j] * scale }
                }
                return loss()
            }
            let plus = evaluate(1), minus = evaluate(-1)
            for (i, p) in parameters.enumerated() { for j in 0..<p.count { p[j] = saved[i][j] } }
            let numeric = (plus - minus) / (2 * Double(epsilon))
            let denominator = max(abs(analytic), abs(numeric), floor, 0.1 * typicalDerivative)
            results.append(Result(analytic: analytic, numeric: numeric, relativeError: abs(analytic - numeric) / denominator))
        }
        return results
    }

    /// The largest relative error over `directional(...)`'s directions.
    public static func maxRelativeError(parameters: [UnsafeMutableBufferPointer<Float>],
                                        gradients: [UnsafeBufferPointer<Float>],
                                        directions: Int = 3,
                                        epsilon: Float = 1e-2,
                                        floor: Double = 1e-6,
                                        seed: UInt64 = 12345,
                                        loss: () -> Double) -> Double {
        directional(parameters: parameters, gradients: gradients, directions: directions,
                    epsilon: epsilon, floor: floor, seed: seed, loss: loss).map(\.relativeError).max() ?? 0
    }

    /// A fixed random projection Σ wᵢ·yᵢ (in Double) that turns an output buffer into an O(1)
    /// scalar loss; `weights(count:)` gives the matching upstream gradient ∂L/∂y = w.
    public struct Projection: Sendable {
        public let seed: UInt64
        public init(seed: UInt64 = 777) { self.seed = seed }

        public func weights(count: Int) -> [Float] {
            let s = RandomStream(seed: seed, purpose: .test, step: 999)
            return (0..<count).map { s.normal(at: $0) }
        }

        public func loss(_ y: UnsafeBufferPointer<Float>) -> Double {
            let w = weights(count: y.count)
            var total = 0.0
            for i in 0..<y.count { total += Double(w[i]) * Double(y[i]) }
            return total
        }
    }
}
