import CounterRandom
import Foundation
import Testing
import TensorKit
import TestSupport
@testable import MamFusion

/// The pyramid's layers on channels-last maps against naive Double loops over PyTorch's
/// definitions, and their backward passes against finite differences.
struct ConvolutionTests {
    static func random(_ count: Int, seed: UInt32, scale: Float = 1) -> Tensor {
        let t = Tensor(shape: [count])
        RandomStream(seed: 31, purpose: .test, step: seed).fillNormal(t.buffer, mean: 0, std: scale)
        return t
    }

    /// Conv2d(c_in → c_out, k, padding (k−1)/2) in Double, PyTorch's weight layout, channels-last maps.
    static func naiveConvolution(_ x: [Float], _ shape: FeatureMapShape, weight: [Float], bias: [Float], outChannels: Int, kernel k: Int) -> [Double] {
        let (h, w, c, p) = (shape.height, shape.width, shape.channels, (k - 1) / 2)
        var y = [Double](repeating: 0, count: shape.rows * outChannels)
        for f in 0..<shape.images { for i in 0..<h { for j in 0..<w { for o in 0..<outChannels {
            var s = Double(bias[o])
            for ci in 0..<c { for a in 0..<k { for b in 0..<k {
                let si = i + a - p, sj = j + b - p
                guard si >= 0, si < h, sj >= 0, sj < w else { continue }
                s += Double(weight[((o * c + ci) * k + a) * k + b]) * Double(x[((f * h + si) * w + sj) * c + ci])
            } } }
            y[((f * h + i) * w + j) * outChannels + o] = s
        } } } }
        return y
    }

    static func relativeError(_ a: [Float], _ b: [Double]) -> Double {
        let scale = b.map(abs).max() ?? 0
        return (zip(a, b).map { abs(Double($0) - $1) }.max() ?? 0) / max(scale, 1e-30)
    }

    @Test("Conv2d 1×1 and 3×3 (several im2col blocks) equal the naive definition", arguments: [1, 3])
    func convolutionForward(kernel: Int) {
        let shape = FeatureMapShape(images: 3, height: 5, width: 4, channels: 6)
        let conv = Convolution2D(inChannels: 6, outChannels: 7, kernel: kernel)
        let x = Self.random(shape.count, seed: 1), weight = Self.random(conv.weightCount, seed: 2), bias = Self.random(7, seed: 3)
        let y = Tensor(shape: [shape.rows * 7])
        conv.forward(x: x.pointer, shape: shape, weight: weight.pointer, bias: bias.pointer, y: y.pointer, workspace: .init())
        let reference = Self.naiveConvolution(x.toArray(), shape, weight: weight.toArray(), bias: bias.toArray(), outChannels: 7, kernel: kernel)
        #expect(Self.relativeError(y.toArray(), reference) < 1e-6)
    }

    @Test("Conv2d 3×3 backward (∂x, ∂W, ∂b) matches finite differences")
    func convolutionBackward() {
        let shape = FeatureMapShape(images: 2, height: 4, width: 3, channels: 5)
        let conv = Convolution2D(inChannels: 5, outChannels: 4, kernel: 3)
        let x = Self.random(shape.count, seed: 4), weight = Self.random(conv.weightCount, seed: 5, scale: 0.3), bias = Self.random(4, seed: 6)
        let y = Tensor(shape: [shape.rows * 4]), dx = Tensor(shape: [shape.count]), dw = Tensor(shape: [conv.weightCount]), db = Tensor(shape: [4])
        let ws = Convolution2D.Workspace(), projection = GradientCheck.Projection(seed: 8)
        func loss() -> Double {
            conv.forward(x: x.pointer, shape: shape, weight: weight.pointer, bias: bias.pointer, y: y.pointer, workspace: ws)
            return projection.loss(UnsafeBufferPointer(y.buffer))
        }
        _ = loss()
        projection.weights(count: y.count).withUnsafeBufferPointer {
            conv.backward(x: x.pointer, shape: shape, weight: weight.pointer, dy: $0.baseAddress!, dx: dx.pointer, dWeight: dw.pointer,
                          dBias: db.pointer, workspace: ws)
        }
        let error = GradientCheck.maxRelativeError(parameters: [x.buffer, weight.buffer, bias.buffer],
                                                   gradients: [dx, dw, db].map { UnsafeBufferPointer($0.buffer) }, directions: 4, epsilon: 1e-2, loss: loss)
        #expect(error < 1e-3, "\(error)")
    }

    @Test("ConvTranspose2d(2, stride 2) equals the naive definition; its backward matches finite differences")
    func transposedConvolution() {
        let shape = FeatureMapShape(images: 3, height: 3, width: 2, channels: 6)
        let up = TransposedConvolution2D(inChannels: 6, outChannels: 3)
        let x = Self.random(shape.count, seed: 9), weight = Self.random(up.weightCount, seed: 10, scale: 0.4), bias = Self.random(3, seed: 11)
        let out = up.outputShape(shape)
        let y = Tensor(shape: [out.count]), ws = TransposedConvolution2D.Workspace()
        up.forward(x: x.pointer, shape: shape, weight: weight.pointer, bias: bias.pointer, y: y.pointer, workspace: ws)
        var reference = [Double](repeating: 0, count: out.count)
        let xs = x.toArray(), ws0 = weight.toArray()
        for f in 0..<3 { for i in 0..<3 { for j in 0..<2 { for a in 0..<2 { for b in 0..<2 { for o in 0..<3 {
            var s = Double(bias.pointer[o])
            for c in 0..<6 { s += Double(xs[((f * 3 + i) * 2 + j) * 6 + c]) * Double(ws0[((c * 3 + o) * 2 + a) * 2 + b]) }
            reference[((f * 6 + 2 * i + a) * 4 + 2 * j + b) * 3 + o] = s
        } } } } } }
        #expect(Self.relativeError(y.toArray(), reference) < 1e-6)

        let dx = Tensor(shape: [shape.count]), dw = Tensor(shape: [up.weightCount]), db = Tensor(shape: [3])
        let projection = GradientCheck.Projection(seed: 12)
        func loss() -> Double {
            up.forward(x: x.pointer, shape: shape, weight: weight.pointer, bias: bias.pointer, y: y.pointer, workspace: ws)
            return projection.loss(UnsafeBufferPointer(y.buffer))
        }
        projection.weights(count: y.count).withUnsafeBufferPointer {
            up.backward(x: x.pointer, shape: shape, weight: weight.pointer, dy: $0.baseAddress!, dx: dx.pointer, dWeight: dw.pointer,
                        dBias: db.pointer, workspace: ws)
        }
        let error = GradientCheck.maxRelativeError(parameters: [x.buffer, weight.buffer, bias.buffer],
                                                   gradients: [dx, dw, db].map { UnsafeBufferPointer($0.buffer) }, directions: 4, epsilon: 1e-2, loss: loss)
        #expect(error < 1e-3, "\(error)")
    }

    @Test("MaxPool 2×2/2 floors odd grids (7 → 3) and takes each window's maximum")
    func maxPool() {
        let shape = FeatureMapShape(images: 2, height: 7, width: 5, channels: 3)
        let x = Self.random(shape.count, seed: 13), out = MaxPool2D.outputShape(shape)
        #expect(out == FeatureMapShape(images: 2, height: 3, width: 2, channels: 3))
        let y = Tensor(shape: [out.count])
        MaxPool2D.forward(x: x.pointer, shape: shape, y: y.pointer)
        let xs = x.toArray()
        for f in 0..<2 { for i in 0..<3 { for j in 0..<2 { for c in 0..<3 {
            let window = [(0, 0), (0, 1), (1, 0), (1, 1)].map { xs[((f * 7 + 2 * i + $0.0) * 5 + 2 * j + $0.1) * 3 + c] }
            #expect(y.pointer[((f * 3 + i) * 2 + j) * 3 + c] == window.max()!)
        } } } }
    }

    @Test("GELU is ½x(1 + erf(x/√2)) and its backward matches finite differences")
    func gelu() {
        let x = Self.random(1000, seed: 14, scale: 3), y = Tensor(shape: [1000]), dx = Tensor(shape: [1000])
        GELU.forward(x: x.pointer, y: y.pointer, count: 1000)
        for i in 0..<1000 {
            let v = Double(x.pointer[i])
            #expect(abs(Double(y.pointer[i]) - 0.5 * v * (1 + erf(v / 2.0.squareRoot()))) <= 2e-7 * max(1, abs(v)))
        }
        let projection = GradientCheck.Projection(seed: 15)
        projection.weights(count: 1000).withUnsafeBufferPointer { GELU.backward(x: x.pointer, dy: $0.baseAddress!, dx: dx.pointer, count: 1000) }
        let error = GradientCheck.maxRelativeError(parameters: [x.buffer], gradients: [UnsafeBufferPointer(dx.buffer)], directions: 4, epsilon: 1e-2) {
            GELU.forward(x: x.pointer, y: y.pointer, count: 1000)
            return projection.loss(UnsafeBufferPointer(y.buffer))
        }
        #expect(error < 1e-3, "\(error)")
    }
}
