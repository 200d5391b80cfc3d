import Foundation
import Testing
import TensorKit
import TestSupport

struct SoftmaxTests {
    /// The reference formula in Double: mask the logits, subtract the row max, exponentiate, normalise.
    static func naive(_ s: [Float], rows: Int, cols: Int, mask: [Float]?, rowsPerMask: Int, mode: Softmax.MaskMode) -> [Double] {
        var p = [Double](repeating: 0, count: rows * cols)
        for r in 0..<rows {
            var row = (0..<cols).map { Double(s[r * cols + $0]) }
            if let mask {
                for j in 0..<cols {
                    let m = Double(mask[(r / rowsPerMask) * cols + j])
                    switch mode {
                    case .additive(let v): row[j] = row[j] + (1 - m) * Double(v)
                    case .fill(let v): row[j] = row[j] * m + (1 - m) * Double(v)
                    }
                }
            }
            let mx = row.max()!
            let e = row.map { exp($0 - mx) }
            let total = e.reduce(0, +)
            for j in 0..<cols { p[r * cols + j] = e[j] / total }
        }
        return p
    }

    /// A [batch × L] key mask with some keys masked; batch 1 keeps only its first two keys.
    static func mask(batch: Int, cols: Int) -> FloatStorage {
        FloatStorage.of((0..<(batch * cols)).map { i in
            let (b, j) = (i / cols, i % cols)
            return b == 1 ? (j < 2 ? 1 : 0) : (j % 3 == 2 ? 0 : 1)
        })
    }

    @Test("forward matches the reference without a mask, with an additive key mask and with a fill mask",
          arguments: [(1, 1), (3, 17), (30, 7), (6, 64)])
    func forwardMatchesNaive(rows: Int, cols: Int) {
        let s = FloatStorage.random(rows * cols, seed: 30, scale: 3)
        let p = FloatStorage(count: s.count)
        Softmax.forward(logits: s.base, probabilities: p.base, rows: rows, cols: cols)
        #expect(scaledError(p.values, Self.naive(s.values, rows: rows, cols: cols, mask: nil, rowsPerMask: 1, mode: .attention)) < 1e-5)
        let rowsPerMask = max(1, rows / 3)
        let batch = (rows + rowsPerMask - 1) / rowsPerMask
        let m = Self.mask(batch: batch, cols: cols)
        for mode in [Softmax.MaskMode.attention, .pooling] {
            Softmax.forward(logits: s.base, probabilities: p.base, rows: rows, cols: cols,
                            keyMask: m.base, rowsPerMask: rowsPerMask, maskMode: mode)
            let expected = Self.naive(s.values, rows: rows, cols: cols, mask: m.values, rowsPerMask: rowsPerMask, mode: mode)
            #expect(scaledError(p.values, expected) < 1e-5, "\(mode)")
            // Masked keys get exactly zero probability, as in the reference (exp(−10000) = 0).
            for r in 0..<rows {
                for j in 0..<cols where m.base[(r / rowsPerMask) * cols + j] == 0 && cols > 2 {
                    #expect(p.base[r * cols + j] == 0)
                }
            }
        }
    }

    @Test("forward is stable for huge logits and works in place")
    func stableAndInPlace() {
        let s = FloatStorage.of([1000, 999, -1000, 88, 89, 90])
        Softmax.forward(logits: s.base, probabilities: s.base, rows: 2, cols: 3)
        let expected = Self.naive([1000, 999, -1000, 88, 89, 90], rows: 2, cols: 3, mask: nil, rowsPerMask: 1, mode: .attention)
        #expect(s.values.allSatisfy { $0.isFinite })
        #expect(scaledError(s.values, expected) < 1e-6)
    }

    @Test("backward matches finite differences, with and without masks, in both mask modes")
    func backwardMatchesFiniteDifferences() {
        // Attention layout: batch 2, heads 3, Lq 4, L 5 → rows share a batch's key mask.
        let (batch, heads, lq, cols) = (2, 3, 4, 5)
        let rows = batch * heads * lq
        let s = FloatStorage.random(rows * cols, seed: 31, scale: 2)
        let p = FloatStorage(count: s.count)
        let m = Self.mask(batch: batch, cols: cols)
        let dp = upstream(p.count)
        for (mask, mode) in [(nil, Softmax.MaskMode.attention), (m, .attention), (m, .pooling)] as [(FloatStorage?, Softmax.MaskMode)] {
            let maskPointer = mask.map { UnsafePointer($0.base) }
            func forward() {
                Softmax.forward(logits: s.base, probabilities: p.base, rows: rows, cols: cols,
                                keyMask: maskPointer, rowsPerMask: heads * lq, maskMode: mode)
            }
            forward()
            let ds = FloatStorage(count: s.count)
            Softmax.backward(probabilities: p.base, dProbabilities: dp.base, dLogits: ds.base, rows: rows, cols: cols,
                             keyMask: maskPointer, rowsPerMask: heads * lq, maskMode: mode)
            let error = gradientError([(s, ds)]) { forward(); return projectedLoss(p) }
            #expect(error < 1e-2, "mask \(mask != nil) \(mode): \(error)")
            #expect(accumulationError([ds]) {
                Softmax.backward(probabilities: p.base, dProbabilities: dp.base, dLogits: ds.base, rows: rows, cols: cols,
                                 keyMask: maskPointer, rowsPerMask: heads * lq, maskMode: mode)
            } < 1e-6)
        }
    }
}
