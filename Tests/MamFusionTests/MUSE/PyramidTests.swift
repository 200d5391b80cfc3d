import CounterRandom
import Foundation
import Testing
import TensorKit
import TestSupport
@testable import MamFusion

/// One storage per branch holding its tensors (values and gradients), named as the branch names them.
final class BranchTensors {
    let scale: PyramidBranch.Scale, width: Int
    var values: [String: Tensor] = [:], gradients: [String: Tensor] = [:]

    init(scale: PyramidBranch.Scale, width: Int, seed: UInt32) {
        (self.scale, self.width) = (scale, width)
        for (k, name) in PyramidBranch.names(scale).enumerated() {
            let shape = PyramidBranch.shape(name, scale: scale, width: width)
            let t = Tensor(shape: shape)
            // O(1) values; LayerNorm weights around 1 so every stage stays non-linear.
            let fan = PyramidBranch.fanIn(name, scale: scale, width: width)
            let std: Float = fan.map { 1 / Float($0).squareRoot() } ?? 0.3
            RandomStream(seed: 77, purpose: .test, step: seed, item: UInt32(k)).fillNormal(t.buffer, mean: fan == nil && name.hasSuffix("weight") ? 1 : 0, std: std)
            values[name] = t
            gradients[name] = Tensor(shape: shape)
        }
    }

    var parameters: PyramidBranch.Parameters { .init(scale: scale, width: width) { self.values[$0]! } }
    var gradientViews: PyramidBranch.Parameters { .init(scale: scale, width: width) { self.gradients[$0]! } }
}

struct PyramidTests {
    @Test("8,267,008 pyramid parameters at W = 512 (2,624,512 + 2,624,512 + 3,017,984); names as an nn.ModuleList would give them")
    func sizes() {
        let counts = PyramidBranch.Scale.allCases.map { scale in
            PyramidBranch.names(scale).reduce(0) { $0 + PyramidBranch.shape($1, scale: scale, width: 512).reduce(1, *) }
        }
        #expect(counts == [2_624_512, 2_624_512, 3_017_984])
        #expect(counts.reduce(0, +) == 8_267_008)
        #expect(PyramidBranch.names(.half).first == "mamba_stages.0.1.weight")
        #expect(PyramidBranch.names(.double).prefix(2) == ["mamba_stages.2.0.weight", "mamba_stages.2.0.bias"])
        #expect(PyramidBranch.fanIn("mamba_stages.2.0.weight", scale: .double, width: 512) == 1024)
        #expect(PyramidBranch.fanIn("mamba_stages.1.3.bias", scale: .one, width: 512) == 4608)
        #expect(PyramidBranch.fanIn("mamba_stages.2.1.weight", scale: .double, width: 512) == 256)
        #expect(MUSEDimensions().sequenceLength == 3060)
    }

    /// The branch in Double from PyTorch's definitions.
    static func reference(_ t: BranchTensors, input: [Float], images: Int, grid: Int) -> [Double] {
        let w = t.width
        func v(_ i: Int) -> [Float] { t.values[PyramidBranch.names(t.scale)[i]]!.toArray() }
        var map = input.map(Double.init), side = grid, channels = w, k = 0
        switch t.scale {
        case .half:
            let h = grid / 2
            var pooled = [Double](repeating: 0, count: images * h * h * w)
            for f in 0..<images { for i in 0..<h { for j in 0..<h { for c in 0..<w {
                pooled[((f * h + i) * h + j) * w + c] = [(0, 0), (0, 1), (1, 0), (1, 1)].map { map[((f * grid + 2 * i + $0.0) * grid + 2 * j + $0.1) * w + c] }.max()!
            } } } }
            (map, side) = (pooled, h)
        case .one: break
        case .double:
            let (weight, bias) = (v(0), v(1)), o = w / 2
            var up = [Double](repeating: 0, count: images * 4 * grid * grid * o)
            for f in 0..<images { for i in 0..<grid { for j in 0..<grid { for a in 0..<2 { for b in 0..<2 { for oc in 0..<o {
                var s = Double(bias[oc])
                for c in 0..<w { s += map[((f * grid + i) * grid + j) * w + c] * Double(weight[((c * o + oc) * 2 + a) * 2 + b]) }
                up[((f * 2 * grid + 2 * i + a) * 2 * grid + 2 * j + b) * o + oc] = s
            } } } } } }
            (map, side, channels, k) = (up, 2 * grid, o, 2)
        }
        let shape = FeatureMapShape(images: images, height: side, width: side, channels: channels)
        func layerNorm(_ x: [Double], _ weight: [Float], _ bias: [Float]) -> [Double] {
            var y = x
            for r in 0..<(x.count / w) {
                let row = x[(r * w)..<((r + 1) * w)], mean = row.reduce(0, +) / Double(w)
                let variance = row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(w)
                for c in 0..<w { y[r * w + c] = (x[r * w + c] - mean) / (variance + 1e-5).squareRoot() * Double(weight[c]) + Double(bias[c]) }
            }
            return y
        }
        var a = ConvolutionTests.naiveConvolution(map.map(Float.init), shape, weight: v(k), bias: v(k + 1), outChannels: w, kernel: 1)
        a = layerNorm(a, v(k + 2), v(k + 3))
        a = a.map { 0.5 * $0 * (1 + erf($0 / 2.0.squareRoot())) }
        a = ConvolutionTests.naiveConvolution(a.map(Float.init), shape.with(channels: w), weight: v(k + 4), bias: v(k + 5), outChannels: w, kernel: 3)
        return layerNorm(a, v(k + 6), v(k + 7))
    }

    @Test("each branch equals its PyTorch definition in Double", arguments: PyramidBranch.Scale.allCases)
    func branchForward(scale: PyramidBranch.Scale) {
        let t = BranchTensors(scale: scale, width: 6, seed: UInt32(scale.rawValue))
        let branch = PyramidBranch(scale: scale, width: 6, grid: 5, parameters: t.parameters, gradients: nil)
        let input = ConvolutionTests.random(3 * 25 * 6, seed: 20)
        let out = branch.forward(input.pointer, images: 3)
        let g = branch.outputGrid
        #expect(g == [2, 5, 10][scale.rawValue])
        let result = Array(UnsafeBufferPointer(start: out, count: 3 * g * g * 6))
        #expect(ConvolutionTests.relativeError(result, Self.reference(t, input: input.toArray(), images: 3, grid: 5)) < 1e-5)
    }

    @Test("a trained branch's gradients match finite differences for every tensor", arguments: PyramidBranch.Scale.allCases)
    func branchGradients(scale: PyramidBranch.Scale) {
        let t = BranchTensors(scale: scale, width: 6, seed: 10 + UInt32(scale.rawValue))
        let branch = PyramidBranch(scale: scale, width: 6, grid: 3, parameters: t.parameters, gradients: t.gradientViews)
        let input = ConvolutionTests.random(2 * 9 * 6, seed: 21)
        let scratch = ScratchArena(), projection = GradientCheck.Projection(seed: 5)
        let g = branch.outputGrid, count = 2 * g * g * 6
        func loss() -> Double { projection.loss(UnsafeBufferPointer(start: branch.forward(input.pointer, images: 2), count: count)) }
        _ = loss()
        projection.weights(count: count).withUnsafeBufferPointer { branch.backward($0.baseAddress!, scratch: scratch) }
        for name in PyramidBranch.names(scale) {
            let error = GradientCheck.maxRelativeError(parameters: [t.values[name]!.buffer], gradients: [UnsafeBufferPointer(t.gradients[name]!.buffer)],
                                                       directions: 3, epsilon: 1e-2, loss: loss)
            #expect(error < 1e-2, "\(name): \(error)")
        }
    }

    @Test("the sequence is [CLS × T | ½ | 1 | 2], frame-major per scale; a frozen pyramid gives the trained one's values")
    func sequenceLayout() {
        let dims = MUSEDimensions(width: 4, grid: 3, frames: 2)
        #expect(dims.sequenceLength == 2 * (1 + 1 + 9 + 36))
        let tensors = PyramidBranch.Scale.allCases.map { BranchTensors(scale: $0, width: 4, seed: 40 + UInt32($0.rawValue)) }
        let frozen = TokenPyramid(dimensions: dims, parameters: { tensors[$0.rawValue].parameters }, gradients: nil, scratch: ScratchArena())
        let trained = TokenPyramid(dimensions: dims, parameters: { tensors[$0.rawValue].parameters },
                                   gradients: { tensors[$0.rawValue].gradientViews }, scratch: ScratchArena())
        let videos = 3, tokens = ConvolutionTests.random(videos * dims.videoFloats, seed: 22)
        let a = Tensor(shape: [videos * dims.sequenceLength * 4]), b = Tensor(shape: [videos * dims.sequenceLength * 4])
        frozen.forward(tokens: tokens.pointer, videos: videos, sequences: a.pointer)
        trained.forward(tokens: tokens.pointer, videos: videos, sequences: b.pointer)
        #expect(a.toArray() == b.toArray())
        let l = dims.sequenceLength, w = 4, n = dims.tokensPerFrame
        for v in 0..<videos {
            for f in 0..<2 {
                #expect(Array(UnsafeBufferPointer(start: a.pointer + (v * l + f) * w, count: w))
                        == Array(UnsafeBufferPointer(start: tokens.pointer + (v * 2 + f) * n * w, count: w)), "video \(v) frame \(f): [CLS] row")
            }
            // Each scale's rows: the branch run on this video's frames alone.
            var patches: [Float] = []
            for f in 0..<2 {
                let first: UnsafeMutablePointer<Float> = tokens.pointer + ((v * 2 + f) * n + 1) * w
                patches += Array(UnsafeBufferPointer(start: first, count: 9 * w))
            }
            var start = 2
            for (s, perFrame) in [1, 9, 36].enumerated() {
                let expected = Self.reference(tensors[s], input: patches, images: 2, grid: 3)
                let got = Array(UnsafeBufferPointer(start: a.pointer + (v * l + start) * w, count: 2 * perFrame * w))
                #expect(ConvolutionTests.relativeError(got, expected) < 1e-5, "video \(v) scale \(s)")
                start += 2 * perFrame
            }
        }
    }
}
