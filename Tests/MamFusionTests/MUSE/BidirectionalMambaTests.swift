import CounterRandom
import Testing
import TensorKit
import TestSupport
@testable import MamFusion

/// A bidirectional Mamba over two test units: the forward direction's unit `f` owns in_proj and
/// out_proj, the backward direction's unit `b` contributes its core (its own projections are
/// overwritten with f's, so `b` as a whole unit is exactly the reversed direction with shared
/// projections).
final class BidirectionalFixture {
    let dims: ModelDimensions
    let f: MambaParameters, b: MambaParameters
    let gf: MambaParameters, gb: MambaParameters
    let parameters: BidirectionalMambaParameters, gradients: BidirectionalMambaParameters
    let layer: BidirectionalMamba
    let batch: SequenceBatch
    let input: Tensor, output: Tensor, inputGradient: Tensor
    let projection = GradientCheck.Projection(seed: 99)

    init(hidden: Int, expand: Int = 1, lengths: [Int], seed: UInt64 = 5) {
        var d = ModelDimensions(hidden: hidden, heads: 1)
        d.mambaExpand = expand
        dims = d
        f = MambaTestValues.parameters(d, seed: seed)
        b = MambaTestValues.parameters(d, seed: seed + 1)
        b.inProjection.pointer.update(from: f.inProjection.pointer, count: f.inProjection.count)
        b.outProjection.pointer.update(from: f.outProjection.pointer, count: f.outProjection.count)
        gf = MambaParameters(allocating: d)
        gb = MambaParameters(allocating: d)
        func views(_ forward: MambaParameters, _ backward: MambaParameters) -> BidirectionalMambaParameters {
            BidirectionalMambaParameters(dimensions: d) { name in
                if let unit = MambaParameters.Name(rawValue: name) { return forward[unit] }
                let core = MambaCoreParameters.names.first { BidirectionalMambaParameters.backwardName($0) == name }!
                return backward[core]
            }
        }
        parameters = views(f, b)
        gradients = views(gf, gb)
        layer = BidirectionalMamba(dimensions: d, parameters: parameters, gradients: gradients, scratch: ScratchArena())
        batch = SequenceBatch(lengths: lengths)
        input = Tensor(shape: [batch.rows, hidden])
        output = Tensor(shape: [batch.rows, hidden])
        inputGradient = Tensor(shape: [batch.rows, hidden])
        MambaTestValues.normal(input, seed: seed, item: 50)
    }

    func forward() { layer.forward(input.pointer, batch: batch, output: output.pointer) }

    func loss() -> Double {
        forward()
        return projection.loss(UnsafeBufferPointer(output.buffer))
    }

    func computeGradients() {
        gf.zero(); gb.zero(); inputGradient.fill(0)
        forward()
        let w = projection.weights(count: output.count)
        layer.backward(w, dx: inputGradient.pointer)
    }

    /// The Double reference: unit_f(x) + flip(unit_b(flip(x))) per sequence — out_proj is linear,
    /// so this is W_out(g_f + flip(g_b)) with the projections shared.
    func reference() -> [Double] {
        let d = dims.hidden
        var out = [Double](repeating: 0, count: batch.rows * d)
        for s in 0..<batch.count {
            let first = batch.offsets[s], length = batch.lengths[s]
            let x = (0..<(length * d)).map { Double(input.pointer[first * d + $0]) }
            let flipped = (0..<length).flatMap { t in x[((length - 1 - t) * d)..<((length - t) * d)] }
            let forward = MambaReference(f, dims).forward(x, length: length)
            let backward = MambaReference(b, dims).forward(Array(flipped), length: length)
            for t in 0..<length {
                for i in 0..<d { out[(first + t) * d + i] = forward[t * d + i] + backward[(length - 1 - t) * d + i] }
            }
        }
        return out
    }
}

extension MambaParameters {
    /// Test helper: `tensor(_:)` by raw name.
    subscript(raw name: String) -> Tensor { self[MambaParameters.Name(rawValue: name)!] }
}

struct BidirectionalMambaTests {
    @Test("the core without projections is the unit: W_out·core(x W_inᵀ) gives the unit's output bit for bit, and its backward the unit's gradients")
    func coreIsTheUnit() {
        let dims = ModelDimensions(hidden: 10, heads: 1)
        let p = MambaTestValues.parameters(dims, seed: 3)
        let unit = MambaUnit(dimensions: dims)
        let lengths = [6, 1, 4], rows = 11, d = 10, e = dims.mambaInner
        let x = Tensor(shape: [rows, d]); MambaTestValues.normal(x, seed: 3, item: 9)
        let dy = Tensor(shape: [rows, d]); MambaTestValues.normal(dy, seed: 3, item: 10)
        // The whole unit on packed rows.
        let wsUnit = MambaWorkspace(dimensions: dims, packedRows: rows, sequences: 3, maxLength: 6, segmentLength: 2)
        let unitOut = Tensor(shape: [rows, d]), unitDx = Tensor(shape: [rows, d]), unitGrad = MambaParameters(allocating: dims)
        unit.forward(packed: x.pointer, lengths: lengths, parameters: p, output: unitOut.pointer, workspace: wsUnit)
        unit.backward(packedOutputGradient: dy.pointer, lengths: lengths, parameters: p, gradients: unitGrad, inputGradient: unitDx.pointer,
                      workspace: wsUnit)
        // Projections outside, the core in between.
        let ws = MambaWorkspace(dimensions: dims, packedRows: rows, sequences: 3, maxLength: 6, segmentLength: 2)
        Matmul.forward(transB: true, m: rows, n: 2 * e, k: d, a: x.pointer, b: p.inProjection.pointer, c: ws.projectedRows)
        let gated = Tensor(shape: [rows, e]), out = Tensor(shape: [rows, d])
        unit.forwardCore(lengths: lengths, parameters: p.core, gated: gated.pointer, workspace: ws)
        Matmul.forward(transB: true, m: rows, n: d, k: e, a: gated.pointer, b: p.outProjection.pointer, c: out.pointer)
        #expect(out.toArray() == unitOut.toArray())
        let grad = MambaParameters(allocating: dims)
        let dGated = Tensor(shape: [rows, e]), dxz = Tensor(shape: [rows, 2 * e]), dx = Tensor(shape: [rows, d])
        Matmul.forward(m: rows, n: e, k: d, a: dy.pointer, b: p.outProjection.pointer, c: dGated.pointer)
        Matmul.backward(transB: true, m: rows, n: d, k: e, a: gated.pointer, b: p.outProjection.pointer, dC: dy.pointer,
                        dA: nil, dB: grad.outProjection.pointer)
        unit.backwardCore(gatedGradient: dGated.pointer, lengths: lengths, parameters: p.core, gradients: grad.core,
                          projectedGradient: dxz.pointer, workspace: ws)
        Matmul.backward(transB: true, m: rows, n: 2 * e, k: d, a: x.pointer, b: p.inProjection.pointer, dC: dxz.pointer,
                        dA: dx.pointer, dB: grad.inProjection.pointer)
        #expect(dx.toArray() == unitDx.toArray())
        for name in MambaParameters.Name.allCases { #expect(grad[name].toArray() == unitGrad[name].toArray(), "\(name.rawValue)") }
    }

    @Test("forward equals the Double reference: forward scan + flipped backward scan, projections shared (d_inner = d and 2d)", arguments: [1, 2])
    func forwardMatchesReference(expand: Int) {
        let f = BidirectionalFixture(hidden: 10, expand: expand, lengths: [7, 1, 4])
        f.forward()
        let reference = f.reference()
        let scale = reference.map(abs).max()!
        let worst = zip(f.output.toArray(), reference).map { abs(Double($0) - $1) }.max()!
        #expect(scale > 0.1)
        #expect(worst / scale < 1e-5, "max |Δ| \(worst) over max |ref| \(scale)")
    }

    @Test("∂L/∂x and every parameter gradient match finite differences")
    func gradients() {
        let f = BidirectionalFixture(hidden: 10, lengths: [7, 1, 4])
        f.computeGradients()
        let input = GradientCheck.maxRelativeError(parameters: [f.input.buffer], gradients: [UnsafeBufferPointer(f.inputGradient.buffer)],
                                                   directions: 4, epsilon: 3e-2) { f.loss() }
        #expect(input < 1e-2, "x: \(input)")
        for name in BidirectionalMambaParameters.names() {
            let (p, g) = Self.views(f, name)
            let epsilon: Float = name.contains("A_") || name.contains("dt_proj.weight") || name.contains("dt_proj_b.weight") ? 0.3 : 3e-2
            let error = GradientCheck.maxRelativeError(parameters: [p.buffer], gradients: [UnsafeBufferPointer(g.buffer)],
                                                       directions: 3, epsilon: epsilon) { f.loss() }
            print("BiMamba gradient check \(name): \(error)")
            #expect(error < 1e-2, "\(name): \(error)")
        }
    }

    static func views(_ f: BidirectionalFixture, _ name: String) -> (Tensor, Tensor) {
        if let unit = MambaParameters.Name(rawValue: name) { return (f.f[unit], f.gf[unit]) }
        let core = MambaCoreParameters.names.first { BidirectionalMambaParameters.backwardName($0) == name }!
        return (f.b[core], f.gb[core])
    }

    @Test("908,288 parameters per BiMamba and 1,171,968 per ResMamba block at W = 512; official names")
    func sizes() {
        var d = ModelDimensions(hidden: 512, heads: 1)
        d.mambaExpand = 1
        #expect(BidirectionalMambaParameters.count(d) == 908_288)
        #expect(ResMambaBlockParameters.count(d) == 1_171_968)
        #expect(MambaCoreParameters.count(d) == 60_928)
        #expect(BidirectionalMambaParameters.names().count == 16)
        #expect(BidirectionalMambaParameters.backwardName(.convolutionWeight) == "conv1d_b.weight")
        #expect(BidirectionalMambaParameters.backwardName(.aLog) == "A_b_log")
        #expect(BidirectionalMambaParameters.backwardName(.dtProjectionBias) == "dt_proj_b.bias")
    }
}
