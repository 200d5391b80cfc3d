import Testing
@testable import MamFusion

struct GaussianMatrixTests {
    @Test("G follows the reference formula, including the offset centre/grid quirk")
    func formula() {
        let L = 7
        for w: Float in [0.5, 1.0, 5.0, 0.001] {
            let g = GaussianMatrix.make(length: L, width: w)
            let sigma = Double(max(w, 0.01)) / 9
            for i in 0..<L {
                let raw = (0..<L).map { j -> Double in
                    let d = Double(j) / Double(L - 1) - Double(i) / Double(L)
                    return exp(-d * d / (2 * sigma * sigma))
                }
                let m = raw.max()!
                for j in 0..<L {
                    let expected = m > 0 ? raw[j] / m : 0
                    #expect(abs(Double(g.pointer[i * L + j]) - expected) < 1e-6, "w \(w) i \(i) j \(j)")
                }
                #expect((0..<L).map { g.pointer[i * L + $0] }.max() == 1 || m == 0)
            }
        }
    }

    @Test("G depends on the padded length: the same positions give different weights for L = 5 and L = 9")
    func dependsOnPaddedLength() {
        let short = GaussianMatrix.make(length: 5, width: 0.5), long = GaussianMatrix.make(length: 9, width: 0.5)
        #expect(short.pointer[1 * 5 + 2] != long.pointer[1 * 9 + 2])
        let one = GaussianMatrix.make(length: 1, width: 1.0)
        #expect(one.toArray() == [1])
    }
}

#if canImport(Glibc)
import Glibc
#endif
