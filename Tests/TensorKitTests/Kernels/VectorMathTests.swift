import CKernels
import Foundation
import Testing
import TestSupport

/// Accuracy of CKernels' vectorised polynomials against the Double-precision libm, in ulps of the
/// correctly rounded float result.
struct VectorMathTests {
    /// Distance in units in the last place between a float and the float nearest to `exact`.
    static func ulps(_ value: Float, _ exact: Double) -> Int {
        let target = Float(exact)
        if value == target { return 0 }
        if value.isNaN || target.isNaN || value.isInfinite || target.isInfinite { return Int.max }
        func ordered(_ f: Float) -> Int64 {
            let b = Int64(f.bitPattern & 0x7fff_ffff)
            return f.sign == .minus ? -b : b
        }
        return Int(abs(ordered(value) - ordered(target)))
    }

    static func sweep(_ low: Double, _ high: Double, count: Int) -> [Float] {
        (0..<count).map { Float(low + (high - low) * Double($0) / Double(count - 1)) }
    }

    static func worstUlps(_ xs: [Float], _ f: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void,
                          _ exact: (Double) -> Double) -> Int {
        var y = [Float](repeating: 0, count: xs.count)
        xs.withUnsafeBufferPointer { x in y.withUnsafeMutableBufferPointer { f(x.baseAddress!, $0.baseAddress!, xs.count) } }
        return zip(xs, y).map { ulps($1, exact(Double($0))) }.max() ?? 0
    }

    @Test("exp is within 2 ulp from underflow to overflow, with exact special values")
    func expAccuracy() {
        let xs = Self.sweep(-104, 88.72, count: 40_001) + Self.sweep(-1, 1, count: 10_001)
        let worst = Self.worstUlps(xs, { mf_vexp($0, $1, $2) }, exp)
        #expect(worst <= 2, "exp worst \(worst) ulp")
        var special: [Float] = [-.infinity, -200, 0, 89, .infinity, .nan]
        special.withUnsafeMutableBufferPointer { mf_vexp($0.baseAddress!, $0.baseAddress!, $0.count) }
        #expect(special[0] == 0 && special[1] == 0 && special[2] == 1 && special[3] == .infinity && special[4] == .infinity)
        #expect(special[5].isNaN)
    }

    @Test("log is within 2 ulp over normal and subnormal inputs, with exact special values")
    func logAccuracy() {
        let xs = Self.sweep(-149, 127.9, count: 40_001).map { Float(pow(2.0, Double($0))) } + Self.sweep(0.5, 2, count: 10_001)
        let worst = Self.worstUlps(xs, { mf_vlog($0, $1, $2) }, log)
        #expect(worst <= 2, "log worst \(worst) ulp")
        var special: [Float] = [0, -1, .infinity, .nan, 1]
        special.withUnsafeMutableBufferPointer { mf_vlog($0.baseAddress!, $0.baseAddress!, $0.count) }
        #expect(special[0] == -.infinity && special[1].isNaN && special[2] == .infinity && special[3].isNaN && special[4] == 0)
    }

    @Test("sigmoid and softplus are accurate over their whole range")
    func sigmoidSoftplusAccuracy() {
        let xs = Self.sweep(-110, 40, count: 40_001)
        let sigmoid = Self.worstUlps(xs, { mf_vsigmoid($0, $1, $2) }) { 1 / (1 + exp(-$0)) }
        let softplus = Self.worstUlps(xs, { mf_vsoftplus($0, $1, $2) }) { $0 > 20 ? $0 : log1p(exp($0)) }
        #expect(sigmoid <= 3, "sigmoid worst \(sigmoid) ulp")
        #expect(softplus <= 3, "softplus worst \(softplus) ulp")
    }

    @Test("row reductions match Double sums on every length, including tails")
    func reductions() {
        for n in [0, 1, 7, 15, 16, 17, 33, 100, 3072] {
            let x = (0..<n).map { Float(sin(Double($0) * 1.7) * 3 + 1) }
            let y = (0..<n).map { Float(cos(Double($0) * 0.3)) }
            let sum = x.reduce(0.0) { $0 + Double($1) }
            let dot = zip(x, y).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let dev = x.reduce(0.0) { $0 + (Double($1) - 0.5) * (Double($1) - 0.5) }
            let scale = x.reduce(1.0) { $0 + abs(Double($1)) }
            #expect(abs(Double(mf_sum(x, n)) - sum) <= 1e-6 * scale)
            #expect(abs(Double(mf_dot(x, y, n)) - dot) <= 1e-6 * scale)
            #expect(abs(Double(mf_sum_squared_deviation(x, 0.5, n)) - dev) <= 1e-6 * max(dev, 1))
            #expect(mf_max(x, n) == (x.max() ?? -.infinity))
        }
    }
}
