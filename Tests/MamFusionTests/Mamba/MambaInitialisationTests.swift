#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif
import CounterRandom
import Testing
import TensorKit
@testable import MamFusion

struct MambaInitialisationTests {
    static func initialised(_ dims: ModelDimensions, seed: UInt64 = 9527) -> MambaParameters {
        let p = MambaParameters(allocating: dims)
        p.initialise { name in
            RandomStream(seed: seed, purpose: .initialisation,
                         item: UInt32(MambaParameters.Name.allCases.firstIndex(of: name)!))
        }
        return p
    }

    static func moments(_ t: Tensor) -> (mean: Double, std: Double, min: Float, max: Float) {
        let v = t.toArray()
        let mean = v.reduce(0.0) { $0 + Double($1) } / Double(v.count)
        let variance = v.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(v.count)
        return (mean, variance.squareRoot(), v.min()!, v.max()!)
    }

    @Test("initialisation follows MODEL.md §5: N(0, 0.02) weights, U(−0.5, 0.5) conv, dt bias 0, A_log = log(n+1), D = 1")
    func statistics() {
        let dims = ModelDimensions(hidden: 64, heads: 1) // E 128, R 4
        let p = Self.initialised(dims)
        for name in [MambaParameters.Name.inProjection, .xProjection, .dtProjectionWeight, .outProjection] {
            let m = Self.moments(p[name])
            let n = Double(p[name].count)
            #expect(abs(m.mean) < 4 * 0.02 / n.squareRoot(), "\(name.rawValue) mean \(m.mean)")
            #expect(abs(m.std - 0.02) < 0.02 * 4 / (2 * n).squareRoot(), "\(name.rawValue) std \(m.std)")
        }
        for name in [MambaParameters.Name.convolutionWeight, .convolutionBias] {
            let m = Self.moments(p[name])
            let n = Double(p[name].count)
            #expect(m.min >= -0.5 && m.max < 0.5, "\(name.rawValue) range \(m.min)...\(m.max)")
            #expect(m.min < -0.45 && m.max > 0.45)
            // U(−0.5, 0.5): std 1/sqrt(12).
            #expect(abs(m.mean) < 4 * 0.2887 / n.squareRoot(), "\(name.rawValue) mean \(m.mean)")
            #expect(abs(m.std - 0.2887) < 0.03, "\(name.rawValue) std \(m.std)")
        }
        #expect(p.dtProjectionBias.toArray().allSatisfy { $0 == 0 })
        #expect(p.skip.toArray().allSatisfy { $0 == 1 })
        let states = dims.mambaState
        for c in 0..<dims.mambaInner {
            for n in 0..<states { #expect(p.aLog.pointer[c * states + n] == Float(log(Double(n + 1)))) }
        }
    }

    @Test("initialisation is a pure function of the streams")
    func deterministic() {
        let dims = ModelDimensions(hidden: 16, heads: 1)
        let a = Self.initialised(dims), b = Self.initialised(dims), c = Self.initialised(dims, seed: 1)
        #expect(a.tensors.map { $0.toArray() } == b.tensors.map { $0.toArray() })
        #expect(a.inProjection.toArray() != c.inProjection.toArray())
    }

    @Test("a unit has 963,840 parameters at d = 384, in PARAMETERS.md shapes")
    func counts() {
        let dims = ModelDimensions()
        #expect(MambaParameters.count(dims) == 963_840)
        #expect(MambaParameters.Name.xProjection.shape(dims) == [56, 768])
        #expect(MambaParameters.Name.convolutionWeight.shape(dims) == [768, 1, 4])
    }
}
