import Testing
import TensorKit
import TestSupport

struct GatherScatterTests {
    @Test("gather copies rows by index; its backward scatter-adds, summing duplicate indices")
    func gather() {
        let (sourceRows, cols) = (5, 3)
        let indices: [Int32] = [4, 0, 4, 2, 4, 1]
        let source = FloatStorage.random(sourceRows * cols, seed: 70)
        let out = FloatStorage(count: indices.count * cols)
        indices.withUnsafeBufferPointer { idx in
            Gather.forward(source: source.base, indices: idx.baseAddress!, output: out.base, count: indices.count, cols: cols)
            for (i, r) in indices.enumerated() {
                #expect(Array(out.values[(i * cols)..<((i + 1) * cols)]) == Array(source.values[(Int(r) * cols)..<((Int(r) + 1) * cols)]))
            }
            let dOut = upstream(out.count), dSource = FloatStorage(count: source.count)
            Gather.backward(dOutput: dOut.base, indices: idx.baseAddress!, dSource: dSource.base, count: indices.count, cols: cols)
            // Row 4 appears three times; row 3 never.
            for j in 0..<cols {
                let expected = Double(dOut.base[0 * cols + j]) + Double(dOut.base[2 * cols + j]) + Double(dOut.base[4 * cols + j])
                #expect(abs(Double(dSource.base[4 * cols + j]) - expected) < 1e-6)
                #expect(dSource.base[3 * cols + j] == 0)
            }
            let error = gradientError([(source, dSource)]) {
                Gather.forward(source: source.base, indices: idx.baseAddress!, output: out.base, count: indices.count, cols: cols)
                return projectedLoss(out)
            }
            #expect(error < 1e-2)
            #expect(accumulationError([dSource]) {
                Gather.backward(dOutput: dOut.base, indices: idx.baseAddress!, dSource: dSource.base, count: indices.count, cols: cols)
            } < 1e-6)
        }
    }

    @Test("scatter places rows at positions, leaves the others, and its backward gathers")
    func scatter() {
        let cols = 4
        let indices: [Int32] = [3, 0, 5]
        let source = FloatStorage.random(indices.count * cols, seed: 71)
        let out = FloatStorage.random(6 * cols, seed: 72)
        let untouched = out.values
        indices.withUnsafeBufferPointer { idx in
            Scatter.forward(source: source.base, indices: idx.baseAddress!, output: out.base, count: indices.count, cols: cols)
            for r in 0..<6 {
                let row = Array(out.values[(r * cols)..<((r + 1) * cols)])
                if let i = indices.firstIndex(of: Int32(r)) {
                    #expect(row == Array(source.values[(i * cols)..<((i + 1) * cols)]))
                } else {
                    #expect(row == Array(untouched[(r * cols)..<((r + 1) * cols)]))
                }
            }
            let dOut = upstream(out.count), dSource = FloatStorage(count: source.count)
            Scatter.backward(dOutput: dOut.base, indices: idx.baseAddress!, dSource: dSource.base, count: indices.count, cols: cols)
            let error = gradientError([(source, dSource)]) {
                Scatter.forward(source: source.base, indices: idx.baseAddress!, output: out.base, count: indices.count, cols: cols)
                return projectedLoss(out)
            }
            #expect(error < 1e-2)
        }
    }
}
