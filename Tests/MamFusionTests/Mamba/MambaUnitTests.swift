import Testing
import TensorKit
import TestSupport
@testable import MamFusion

/// One small Mamba unit on a padded batch, its buffers, and a random-projection loss. The unit
/// runs on packed valid rows (as every model runs it); the fixture packs the padded tensors before
/// and scatters after, padded rows of `output` 0.
final class MambaFixture {
    let dims: ModelDimensions
    let unit: MambaUnit
    let parameters: MambaParameters
    let gradients: MambaGradients
    let workspace: MambaWorkspace
    let lengths: [Int]
    let input: Tensor, output: Tensor, outputGradient: Tensor, inputGradient: Tensor
    /// The valid rows, packed (Σ lengths × d): what the unit reads and writes.
    let packedInput: Tensor, packedOutput: Tensor, packedOutputGradient: Tensor, packedInputGradient: Tensor
    let projection = GradientCheck.Projection(seed: 4242)

    /// d = `hidden` (d_inner = 2d), `lengths` packed into (lengths.count, padded, d); padded rows of
    /// the input hold large random values, so any leak of padding into valid outputs shows.
    init(hidden: Int, lengths: [Int], padded: Int, segment: Int, seed: UInt64 = 2024, scratch: MambaScratch? = nil) {
        dims = ModelDimensions(hidden: hidden, heads: 1)
        unit = MambaUnit(dimensions: dims)
        parameters = MambaTestValues.parameters(dims, seed: seed)
        gradients = MambaParameters(allocating: dims)
        let rows = max(lengths.reduce(0, +), 1)
        workspace = MambaWorkspace(dimensions: dims, packedRows: rows, sequences: lengths.count, maxLength: padded, segmentLength: segment,
                                   scratch: scratch)
        self.lengths = lengths
        let shape = [lengths.count, padded, hidden]
        input = Tensor(shape: shape); output = Tensor(shape: shape)
        outputGradient = Tensor(shape: shape); inputGradient = Tensor(shape: shape)
        packedInput = Tensor(shape: [rows, hidden]); packedOutput = Tensor(shape: [rows, hidden])
        packedOutputGradient = Tensor(shape: [rows, hidden]); packedInputGradient = Tensor(shape: [rows, hidden])
        MambaTestValues.normal(input, seed: seed, item: 100)
        for (b, length) in lengths.enumerated() {
            for i in (length * hidden)..<(padded * hidden) { input.pointer[(b * padded) * hidden + i] *= 100 }
        }
        let w = projection.weights(count: output.count)
        for i in 0..<w.count { outputGradient.pointer[i] = w[i] }
    }

    /// Each sequence's valid rows of the padded `x`, back to back in `packed`.
    func pack(_ x: Tensor, into packed: Tensor) {
        let padded = x.shape[1], d = dims.hidden
        var row = 0
        for (b, length) in lengths.enumerated() {
            (packed.pointer + row * d).update(from: x.pointer + b * padded * d, count: length * d)
            row += length
        }
    }

    func forward() {
        pack(input, into: packedInput)
        unit.forward(packed: packedInput.pointer, lengths: lengths, parameters: parameters, output: packedOutput.pointer, workspace: workspace)
        let padded = output.shape[1], d = dims.hidden
        var row = 0
        for (b, length) in lengths.enumerated() {
            let sequence = output.pointer + b * padded * d
            sequence.update(from: packedOutput.pointer + row * d, count: length * d)
            (sequence + length * d).update(repeating: 0, count: (padded - length) * d)
            row += length
        }
    }

    /// Accumulates the parameter gradients and ∂input (valid rows) of `outputGradient`.
    func backward() {
        pack(outputGradient, into: packedOutputGradient)
        packedInputGradient.fill(0)
        unit.backward(packedOutputGradient: packedOutputGradient.pointer, lengths: lengths, parameters: parameters,
                      gradients: gradients, inputGradient: packedInputGradient.pointer, workspace: workspace)
        let padded = inputGradient.shape[1], d = dims.hidden
        var row = 0
        for (b, length) in lengths.enumerated() {
            let sequence = inputGradient.pointer + b * padded * d, source = packedInputGradient.pointer + row * d
            for i in 0..<(length * d) { sequence[i] += source[i] }
            row += length
        }
    }

    /// L = Σ w ⊙ output (Double), after a fresh forward from the current buffers.
    func loss() -> Double {
        forward()
        return projection.loss(UnsafeBufferPointer(output.buffer))
    }

    /// Zeroed gradients, then one forward + backward at the current values.
    func computeGradients() {
        gradients.zero(); inputGradient.fill(0)
        forward(); backward()
    }

    /// The Double reference's output for sequence b (length × d), from its valid rows only.
    func reference(_ b: Int) -> [Double] {
        let padded = input.shape[1], d = dims.hidden
        let rows = (0..<(lengths[b] * d)).map { Double(input.pointer[b * padded * d + $0]) }
        return MambaReference(parameters, dims).forward(rows, length: lengths[b])
    }
}

struct MambaUnitTests {
    @Test("forward matches the Double reference; padding never changes valid outputs; padded outputs are 0")
    func forwardMatchesReference() {
        // d = 10: d_inner 20 = two full 8-channel blocks + a 4-channel tail; segment 4 → checkpoints.
        let f = MambaFixture(hidden: 10, lengths: [7, 3, 1], padded: 7, segment: 4)
        f.forward()
        let d = f.dims.hidden, padded = 7
        var worst = 0.0, scale = 0.0
        for (b, length) in f.lengths.enumerated() {
            let ref = f.reference(b)
            for i in 0..<(length * d) {
                worst = max(worst, abs(Double(f.output.pointer[b * padded * d + i]) - ref[i]))
                scale = max(scale, abs(ref[i]))
            }
            for i in (length * d)..<(padded * d) { #expect(f.output.pointer[b * padded * d + i] == 0) }
        }
        #expect(scale > 0.1)
        #expect(worst / scale < 1e-5, "max |Δ| \(worst) over max |ref| \(scale)")

        // Other padding contents: bitwise the same outputs.
        let before = f.output.toArray()
        for (b, length) in f.lengths.enumerated() {
            for i in (length * d)..<(padded * d) { f.input.pointer[b * padded * d + i] = Float(i % 7) - 1e4 }
        }
        f.forward()
        #expect(f.output.toArray() == before)
    }

    @Test("∂L/∂x matches finite differences (valid rows; padded rows get no gradient)")
    func inputGradient() {
        let f = MambaFixture(hidden: 10, lengths: [7, 3, 1], padded: 7, segment: 4)
        f.computeGradients()
        let error = GradientCheck.maxRelativeError(parameters: [f.input.buffer],
                                                   gradients: [UnsafeBufferPointer(f.inputGradient.buffer)],
                                                   directions: 4, epsilon: 3e-2) { f.loss() }
        print("Mamba gradient check x: max relative error \(error)")
        #expect(error < 1e-2)
        for (b, length) in f.lengths.enumerated() {
            for i in (length * 10)..<(7 * 10) { #expect(f.inputGradient.pointer[b * 70 + i] == 0) }
        }
    }

    /// Step of the central difference per tensor. The forward runs in Float, so the numeric
    /// derivative carries noise ≈ (rounding of L)/ε: tensors on which L depends weakly (A_log,
    /// and dt_proj.weight, which has only E·R = 20 entries here) need a larger ε to rise above it,
    /// while the strongly non-linear conv and in_proj paths need a small one (truncation ∝ ε²).
    static func epsilon(_ name: MambaParameters.Name) -> Float {
        switch name {
        case .aLog, .dtProjectionWeight: return 0.3
        case .skip: return 0.1
        default: return 3e-2
        }
    }

    @Test("∂L/∂parameter matches finite differences for every tensor", arguments: MambaParameters.Name.allCases)
    func parameterGradient(_ name: MambaParameters.Name) {
        let f = MambaFixture(hidden: 10, lengths: [7, 3, 1], padded: 7, segment: 4)
        f.computeGradients()
        let error = GradientCheck.maxRelativeError(parameters: [f.parameters[name].buffer],
                                                   gradients: [UnsafeBufferPointer(f.gradients[name].buffer)],
                                                   directions: 4, epsilon: Self.epsilon(name)) { f.loss() }
        print("Mamba gradient check \(name.rawValue): max relative error \(error)")
        #expect(error < 1e-2)
    }

    @Test("backward accumulates: two calls give twice the gradients")
    func backwardAccumulates() {
        let f = MambaFixture(hidden: 10, lengths: [5, 2], padded: 6, segment: 2)
        f.computeGradients()
        let once = f.gradients.tensors.map { $0.toArray() } + [f.inputGradient.toArray()]
        f.backward()
        let twice = f.gradients.tensors.map { $0.toArray() } + [f.inputGradient.toArray()]
        for (a, b) in zip(once, twice) {
            let scale = a.map { abs($0) }.max() ?? 0
            #expect(scale > 0)
            let worst = zip(a, b).map { abs(2 * $0 - $1) }.max() ?? 0
            #expect(worst <= 1e-5 * scale, "|2g − g₂| = \(worst) for max |g| = \(scale)")
        }
    }

    @Test("gradients do not depend on the checkpoint spacing")
    func checkpointSpacing() {
        var results: [[[Float]]] = []
        for segment in [1, 3, 64] {
            let f = MambaFixture(hidden: 10, lengths: [7, 3, 1], padded: 7, segment: segment)
            f.computeGradients()
            results.append(f.gradients.tensors.map { $0.toArray() } + [f.inputGradient.toArray(), f.output.toArray()])
        }
        for other in results.dropFirst() {
            for (a, b) in zip(results[0], other) {
                let scale = a.map { abs($0) }.max() ?? 0
                #expect((zip(a, b).map { abs($0 - $1) }.max() ?? 0) <= 1e-6 * scale)
            }
        }
    }

    @Test("an empty sequence and a batch smaller than the workspace work")
    func emptySequence() {
        let f = MambaFixture(hidden: 8, lengths: [0, 4], padded: 5, segment: 2)
        f.computeGradients()
        for i in 0..<(5 * 8) { #expect(f.output.pointer[i] == 0 && f.inputGradient.pointer[i] == 0) }
        let ref = f.reference(1)
        for i in 0..<(4 * 8) { #expect(abs(Double(f.output.pointer[40 + i]) - ref[i]) < 1e-5) }
    }

    @Test("units sharing one MambaScratch, interleaved, give the results of private scratch")
    func sharedScratch() {
        let dims = ModelDimensions(hidden: 10, heads: 1)
        let shared = MambaScratch(dimensions: dims, rows: 7 * 3, segmentLength: 4)
        let a = MambaFixture(hidden: 10, lengths: [7, 3, 1], padded: 7, segment: 4, seed: 1, scratch: shared)
        let b = MambaFixture(hidden: 10, lengths: [2, 5], padded: 6, segment: 2, seed: 2, scratch: shared)
        let privateA = MambaFixture(hidden: 10, lengths: [7, 3, 1], padded: 7, segment: 4, seed: 1)
        let privateB = MambaFixture(hidden: 10, lengths: [2, 5], padded: 6, segment: 2, seed: 2)
        for f in [a, b, privateA, privateB] { f.gradients.zero(); f.inputGradient.fill(0) }
        a.forward(); b.forward(); b.backward(); a.backward()
        privateA.computeGradients(); privateB.computeGradients()
        for (f, g) in [(a, privateA), (b, privateB)] {
            #expect(f.output.toArray() == g.output.toArray())
            #expect(f.inputGradient.toArray() == g.inputGradient.toArray())
            #expect(f.gradients.tensors.map { $0.toArray() } == g.gradients.tensors.map { $0.toArray() })
        }
    }
}
