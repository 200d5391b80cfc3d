import Testing
import TensorKit
import TestSupport
@testable import MamFusion

struct CLSReadoutTests {
    @Test("v = normalise(mean over real frames of normalise([CLS] outputs)); later rows and padding frames do not count; backward matches finite differences")
    func readout() {
        let w = 5, frames = 4, lengths = [9, 7], real = [3, 4]
        let batch = SequenceBatch(lengths: lengths)
        let y = ConvolutionTests.random(batch.rows * w, seed: 30), dy = Tensor(shape: [batch.rows * w])
        let readout = CLSReadout(width: w, frames: frames), v = Tensor(shape: [2 * w])
        readout.forward(y.pointer, batch: batch, realFrames: real, embeddings: v.pointer)
        for s in 0..<2 {
            var mean = [Double](repeating: 0, count: w)
            for t in 0..<real[s] {
                let row = (0..<w).map { Double(y.pointer[(batch.offsets[s] + t) * w + $0]) }
                let norm = row.reduce(0) { $0 + $1 * $1 }.squareRoot()
                for i in 0..<w { mean[i] += row[i] / norm / Double(real[s]) }
            }
            let norm = mean.reduce(0) { $0 + $1 * $1 }.squareRoot()
            for i in 0..<w { #expect(abs(Double(v.pointer[s * w + i]) - mean[i] / norm) < 1e-6) }
        }
        let projection = GradientCheck.Projection(seed: 31), scratch = ScratchArena()
        projection.weights(count: 2 * w).withUnsafeBufferPointer { readout.backward(y.pointer, embeddingGradient: $0.baseAddress!, dy: dy.pointer, scratch: scratch) }
        for s in 0..<2 {
            for t in real[s]..<lengths[s] {
                for i in 0..<w { #expect(dy.pointer[(batch.offsets[s] + t) * w + i] == 0, "sequence \(s) row \(t) gets no gradient") }
            }
        }
        let error = GradientCheck.maxRelativeError(parameters: [y.buffer], gradients: [UnsafeBufferPointer(dy.buffer)], directions: 4, epsilon: 1e-2) {
            readout.forward(y.pointer, batch: batch, realFrames: real, embeddings: v.pointer)
            return projection.loss(UnsafeBufferPointer(v.buffer))
        }
        #expect(error < 1e-2, "\(error)")
    }
}
