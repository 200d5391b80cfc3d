import Testing
@testable import TestSupport

struct GradientCheckTests {
    @Test("the checker accepts a correct gradient and rejects a wrong one")
    func acceptsAndRejects() {
        // L(x) = Σ sin(x_i)·x_i², dL/dx = cos(x)·x² + 2x·sin(x)
        var x: [Float] = (0..<50).map { Float($0) * 0.07 - 1.5 }
        func loss(_ v: UnsafeMutableBufferPointer<Float>) -> Double {
            v.reduce(0.0) { $0 + Double(sinf($1) * $1 * $1) }
        }
        let right = x.map { cosf($0) * $0 * $0 + 2 * $0 * sinf($0) }
        var wrong = right
        wrong[17] += 0.5
        x.withUnsafeMutableBufferPointer { p in
            let good = right.withUnsafeBufferPointer { g in
                GradientCheck.maxRelativeError(parameters: [p], gradients: [g], epsilon: 1e-2) { loss(p) }
            }
            let bad = wrong.withUnsafeBufferPointer { g in
                GradientCheck.maxRelativeError(parameters: [p], gradients: [g], epsilon: 1e-2) { loss(p) }
            }
            #expect(good < 1e-3)
            #expect(bad > 1e-2)
        }
        // Parameters are restored exactly.
        #expect(x == (0..<50).map { Float($0) * 0.07 - 1.5 })
    }
}

#if canImport(Glibc)
import Glibc
#endif
