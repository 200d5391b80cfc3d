#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif
import CounterRandom
import TensorKit
@testable import MamFusion

/// A naive Double evaluation of the Mamba-1 unit straight from MODEL.md §1: plain loops, the full
/// state h_t kept at every step, no checkpoints, no vector tricks — the independent value the
/// Float kernels are compared with.
struct MambaReference {
    let d: Int, e: Int, n: Int, r: Int, w: Int
    let inProjection: [Double], convolutionWeight: [Double], convolutionBias: [Double]
    let xProjection: [Double], dtWeight: [Double], dtBias: [Double]
    let aLog: [Double], skip: [Double], outProjection: [Double]

    init(_ p: MambaParameters, _ dims: ModelDimensions) {
        d = dims.hidden; e = dims.mambaInner; n = dims.mambaState; r = dims.mambaDtRank; w = dims.mambaConvolution
        func dbl(_ t: Tensor) -> [Double] { t.toArray().map(Double.init) }
        inProjection = dbl(p.inProjection); convolutionWeight = dbl(p.convolutionWeight)
        convolutionBias = dbl(p.convolutionBias); xProjection = dbl(p.xProjection)
        dtWeight = dbl(p.dtProjectionWeight); dtBias = dbl(p.dtProjectionBias)
        aLog = dbl(p.aLog); skip = dbl(p.skip); outProjection = dbl(p.outProjection)
    }

    static func silu(_ x: Double) -> Double { x / (1 + exp(-x)) }
    static func softplus(_ x: Double) -> Double { x > 20 ? x : log1p(exp(x)) }

    /// One sequence: x is L×d (row-major), returns L×d.
    func forward(_ x: [Double], length L: Int) -> [Double] {
        var xp = [Double](repeating: 0, count: L * e), z = xp
        for t in 0..<L {
            for o in 0..<(2 * e) {
                var s = 0.0
                for i in 0..<d { s += inProjection[o * d + i] * x[t * d + i] }
                if o < e { xp[t * e + o] = s } else { z[t * e + o - e] = s }
            }
        }
        var u = [Double](repeating: 0, count: L * e)
        for t in 0..<L {
            for c in 0..<e {
                var s = convolutionBias[c]
                for k in 0..<w where t + k - (w - 1) >= 0 { s += convolutionWeight[c * w + k] * xp[(t + k - (w - 1)) * e + c] }
                u[t * e + c] = Self.silu(s)
            }
        }
        let sel = r + 2 * n
        var xdbl = [Double](repeating: 0, count: L * sel)
        for t in 0..<L { for o in 0..<sel { var s = 0.0; for c in 0..<e { s += xProjection[o * e + c] * u[t * e + c] }; xdbl[t * sel + o] = s } }
        var delta = [Double](repeating: 0, count: L * e)
        for t in 0..<L {
            for c in 0..<e {
                var s = dtBias[c]
                for j in 0..<r { s += dtWeight[c * r + j] * xdbl[t * sel + j] }
                delta[t * e + c] = Self.softplus(s)
            }
        }
        let y = Self.scan(length: L, channels: e, states: n, delta: delta, u: u,
                          b: (0..<(L * n)).map { xdbl[($0 / n) * sel + r + $0 % n] },
                          c: (0..<(L * n)).map { xdbl[($0 / n) * sel + r + n + $0 % n] },
                          aLog: aLog, skip: skip)
        var out = [Double](repeating: 0, count: L * d)
        for t in 0..<L {
            let gated = (0..<e).map { y[t * e + $0] * Self.silu(z[t * e + $0]) }
            for o in 0..<d { var s = 0.0; for c in 0..<e { s += outProjection[o * e + c] * gated[c] }; out[t * d + o] = s }
        }
        return out
    }

    /// The selective scan with the full state stored at every step (h[t][c][n]).
    /// delta, u: L×E; b, c: L×N; aLog: E×N; skip: E. Returns y (L×E).
    static func scan(length L: Int, channels e: Int, states n: Int, delta: [Double], u: [Double],
                     b: [Double], c: [Double], aLog: [Double], skip: [Double]) -> [Double] {
        var h = [[Double]](repeating: [Double](repeating: 0, count: e * n), count: L + 1) // h[0] = h_{-1}
        var y = [Double](repeating: 0, count: L * e)
        for t in 0..<L {
            for ch in 0..<e {
                var acc = skip[ch] * u[t * e + ch]
                for s in 0..<n {
                    let a = exp(delta[t * e + ch] * -exp(aLog[ch * n + s]))
                    h[t + 1][ch * n + s] = a * h[t][ch * n + s] + delta[t * e + ch] * u[t * e + ch] * b[t * n + s]
                    acc += h[t + 1][ch * n + s] * c[t * n + s]
                }
                y[t * e + ch] = acc
            }
        }
        return y
    }
}

/// Random test values from the counter RNG (purpose .test), so every test is reproducible.
enum MambaTestValues {
    static func normal(_ t: Tensor, seed: UInt64, item: UInt32, mean: Float = 0, std: Float = 1) {
        RandomStream(seed: seed, purpose: .test, step: 1, item: item).fillNormal(t.buffer, mean: mean, std: std)
    }

    static func uniform(_ t: Tensor, seed: UInt64, item: UInt32, low: Float, high: Float) {
        RandomStream(seed: seed, purpose: .test, step: 2, item: item).fillUniform(t.buffer, low: low, high: high)
    }

    /// Parameters scaled so every stage is O(1) and non-linear (the real N(0, 0.02) initialisation
    /// makes the output tiny and the gradient check weak).
    static func parameters(_ dims: ModelDimensions, seed: UInt64) -> MambaParameters {
        let p = MambaParameters(allocating: dims)
        let d = Float(dims.hidden), e = Float(dims.mambaInner), r = Float(dims.mambaDtRank)
        normal(p.inProjection, seed: seed, item: 0, std: 1 / d.squareRoot())
        uniform(p.convolutionWeight, seed: seed, item: 1, low: -0.5, high: 0.5)
        uniform(p.convolutionBias, seed: seed, item: 2, low: -0.5, high: 0.5)
        normal(p.xProjection, seed: seed, item: 3, std: 1 / e.squareRoot())
        normal(p.dtProjectionWeight, seed: seed, item: 4, std: 0.5 / r.squareRoot())
        uniform(p.dtProjectionBias, seed: seed, item: 5, low: -2.5, high: 0)
        let states = dims.mambaState
        uniform(p.aLog, seed: seed, item: 6, low: -0.2, high: 0.2)
        for i in 0..<p.aLog.count { p.aLog.pointer[i] += Float(log(Double(i % states + 1))) }
        normal(p.skip, seed: seed, item: 7, mean: 1, std: 0.3)
        normal(p.outProjection, seed: seed, item: 8, std: 1 / e.squareRoot())
        return p
    }
}
