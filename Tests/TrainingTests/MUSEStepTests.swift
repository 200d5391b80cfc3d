@testable import MamFusion
import MPIKit
import TensorKit
import TestSupport
import Testing
@testable import Training

/// MUSE's hand-written backward against finite differences of the whole loss along the path
/// training runs (`DistributedStep.run` for the gradient, `DistributedStep.loss` for the
/// differences), dropout on, pairs sharing a video, the pyramid frozen and trained; micro-batches
/// give the whole share's step; groups are final when declared.
struct MUSEStepTests {
    static let pairs = [0, 1, 0, 2, 1, 3], realFrames = [3, 1, 2, 3]

    static func step(_ c: RunConfiguration, parameters: ParameterSet) -> DistributedStep {
        DistributedStep(model: c.makeModel(parameters: parameters), world: LocalWorld(), bucketBytes: 1 << 16)
    }

    @Test("whole-model gradient of the training step matches finite differences (pyramid frozen and trained)", arguments: [false, true])
    func wholeModel(trainPyramid: Bool) throws {
        let c = tinyMUSEConfiguration(trainPyramid: trainPyramid)
        let (p, _) = perturbedParameters(c, seed: 3)
        let step = Self.step(c, parameters: p)
        let fixture = PairStepFixture(c, pairs: Self.pairs, realFrames: Self.realFrames, seed: 40)
        let key = StepKey(seed: 5, step: 9, epoch: 0, dropoutEnabled: true)
        let result = try step.run(fixture.plan(), inputs: fixture.inputs, videoNames: { "v\($0)" }, key: key)
        #expect(result.terms.total.isFinite && result.terms.total > 0 && result.nonFinite == nil)
        #expect(result.terms.named.map(\.name) == ["t2v", "v2t"])
        let gradients = step.model.gradients
        let frozen = p.layout.specs.filter { $0.group == .unused }
        #expect(frozen.isEmpty == trainPyramid)
        #expect(frozen.allSatisfy { gradients.tensor($0).toArray().allSatisfy { $0 == 0 } }, "a frozen pyramid gets no gradient")
        // Every trained tensor (the pyramid's too when trained), one direction over all of them.
        let trained = p.layout.specs.filter { $0.group != .unused }
        let error = GradientCheck.maxRelativeError(parameters: trained.map { p.tensor($0).buffer },
                                                   gradients: trained.map { UnsafeBufferPointer(gradients.tensor($0).buffer) },
                                                   directions: 4, epsilon: 1e-2) {
            (try? step.loss(fixture.plan(), inputs: fixture.inputs, key: key).total) ?? .nan
        }
        print("MUSE whole-model gradient check through the training step (pyramid \(trainPyramid ? "trained" : "frozen")): \(error)")
        #expect(error < 1e-2, "max relative error \(error)")
        if trainPyramid {
            let pyramid = trained.filter { $0.group == MUSELayout.pyramidGroup }
            let pyramidError = GradientCheck.maxRelativeError(parameters: pyramid.map { p.tensor($0).buffer },
                                                              gradients: pyramid.map { UnsafeBufferPointer(gradients.tensor($0).buffer) },
                                                              directions: 3, epsilon: 1e-2) {
                (try? step.loss(fixture.plan(), inputs: fixture.inputs, key: key).total) ?? .nan
            }
            #expect(pyramidError < 1e-2, "pyramid alone: \(pyramidError)")
        }
    }

    @Test("with a long reverse-scan memory every pyramid tensor gets a gradient, the scale-2 ones matching finite differences")
    func scaleTwoGradients() throws {
        let c = tinyMUSEConfiguration(trainPyramid: true)
        let (p, _) = perturbedParameters(c, seed: 4)
        // Δ = softplus(−5) ≈ 0.007: the scans remember the whole sequence.
        for spec in p.layout.specs where spec.name.hasSuffix("dt_proj.bias") || spec.name.hasSuffix("dt_proj_b.bias") { p.tensor(spec).fill(-5) }
        let step = Self.step(c, parameters: p)
        let fixture = PairStepFixture(c, pairs: Self.pairs, realFrames: Self.realFrames, seed: 43)
        let key = StepKey(seed: 5, step: 2, epoch: 0, dropoutEnabled: true)
        _ = try step.run(fixture.plan(), inputs: fixture.inputs, videoNames: { "v\($0)" }, key: key)
        let pyramid = p.layout.specs.filter { $0.group == MUSELayout.pyramidGroup }
        for spec in pyramid { #expect(step.model.gradients.tensor(spec).toArray().contains { $0 != 0 }, "\(spec.name) got no gradient") }
        let scaleTwo = pyramid.filter { $0.name.hasPrefix("mamba_stages.2.") }
        // The scale-2 path carries ∂L of ~1e-2 next to L ≈ 50 (logit scale 100): ε = 0.1 keeps the
        // difference above float rounding (measured: 1e-3 agreement at 0.1, noise-bound at 3e-3).
        let error = GradientCheck.maxRelativeError(parameters: scaleTwo.map { p.tensor($0).buffer },
                                                   gradients: scaleTwo.map { UnsafeBufferPointer(step.model.gradients.tensor($0).buffer) },
                                                   directions: 3, epsilon: 0.1) {
            (try? step.loss(fixture.plan(), inputs: fixture.inputs, key: key).total) ?? .nan
        }
        #expect(error < 1e-2, "scale-2 branch: \(error)")
    }

    @Test("micro-batches of 1 and 4 pairs give the whole share's gradient (dropout on, trained pyramid)")
    func microBatches() throws {
        let c = tinyMUSEConfiguration(trainPyramid: true)
        let (p, _) = perturbedParameters(c, seed: 6)
        let fixture = PairStepFixture(c, pairs: Self.pairs, realFrames: Self.realFrames, seed: 41)
        var gradients: [[Float]] = []
        for micro in [0, 1, 4] {
            let step = Self.step(c, parameters: p)
            let result = try step.run(fixture.plan(microBatch: micro), inputs: fixture.inputs, videoNames: { "v\($0)" },
                                      key: StepKey(seed: 2, step: 3, epoch: 0, dropoutEnabled: true))
            #expect(micro == 0 ? result.reencode == 0 : result.reencode > 0)
            gradients.append(Array(step.model.gradients.storage.buffer))
        }
        let largest = gradients[0].reduce(0) { max($0, abs($1)) }
        for (k, g) in gradients.enumerated().dropFirst() {
            let worst = zip(g, gradients[0]).reduce(0) { max($0, abs($1.0 - $1.1)) }
            #expect(worst <= 1e-6 * largest, "micro-batch \([0, 1, 4][k]): largest difference \(worst) of \(largest)")
        }
    }

    @Test("each block's gradient is final when declared, in layout order, each once")
    func groupsFinalWhenDeclared() throws {
        let c = tinyMUSEConfiguration(trainPyramid: true)
        let (p, _) = perturbedParameters(c, seed: 8)
        let model = c.makeModel(parameters: p), head = model.makeHead()
        let fixture = PairStepFixture(c, pairs: Self.pairs, realFrames: Self.realFrames, seed: 42)
        let plan = fixture.plan(), key = StepKey(seed: 3, step: 1, epoch: 0, dropoutEnabled: true)
        let embeddings = EmbeddingBuffers(model.embeddings), gradients = EmbeddingBuffers(model.embeddings)
        embeddings.reserve(queries: plan.ownQueryCount, videos: plan.ownVideoCount)
        let batch = plan.encoderBatch(plan.microBatches[0], inputs: fixture.inputs(plan.microBatches[0]))
        model.encode(batch, into: embeddings.all, dropout: key.dropout)
        var collectives = StepCollectives(world: LocalWorld())
        _ = try head.forward(embeddings, batch: plan.batch, assignment: plan.assignment, key: key, collectives: &collectives)
        try head.backward(embeddings, into: gradients, collectives: &collectives)
        var declared: [ParameterGroup] = [], snapshots: [ParameterGroup: [Float]] = [:]
        model.backward(batch, from: gradients.all, dropout: key.dropout) { group in
            declared.append(group)
            let range = model.layout.range(of: group)
            snapshots[group] = Array(UnsafeBufferPointer(start: model.gradients.storage.base + range.lowerBound, count: range.count))
        }
        #expect(declared == model.layout.reducedGroups, "\(declared)")
        for group in declared {
            let range = model.layout.range(of: group)
            #expect(Array(UnsafeBufferPointer(start: model.gradients.storage.base + range.lowerBound, count: range.count)) == snapshots[group],
                    "\(group) changed after it was declared final")
            #expect(snapshots[group]!.contains { $0 != 0 })
        }
    }

    /// One step's gradient under `selection`.
    static func gradient(_ c: RunConfiguration, _ p: ParameterSet, _ fixture: PairStepFixture, _ selection: MatrixEngineSelection,
                         microBatch: Int = 0) throws -> [Float] {
        let step = Self.step(c, parameters: p)
        let result = try withEngine(selection) {
            try step.run(fixture.plan(microBatch: microBatch), inputs: fixture.inputs, videoNames: { "v\($0)" },
                         key: StepKey(seed: 5, step: 9, epoch: 0, dropoutEnabled: true))
        }
        #expect(result.terms.total.isFinite && result.nonFinite == nil)
        return Array(step.model.gradients.storage.buffer)
    }

    /// bf16's error bound against the fp32 twin, normwise (as `EngineStepTests.stepBound`): each
    /// product's operands lose 8 bits (u = 2⁻⁸), the step chains about 20 products (2 blocks of
    /// projections, the head) with errors of random sign, ≈ √20·2u ≈ 3.5% typical. Bound 5%.
    static let bf16Bound = 0.05

    @Test("bf16: the step's gradient is the fp32 gradient within bf16's error; micro-batches give the whole share's",
          arguments: engineSelections.filter { $0.precision == .bf16 })
    func bf16(selection: MatrixEngineSelection) throws {
        let c = tinyMUSEConfiguration(trainPyramid: true)
        let p = ParameterSet(layout: c.parameterLayout)
        MUSEModel.initialize(p, seed: 3)
        let fixture = PairStepFixture(c, pairs: Self.pairs, realFrames: Self.realFrames, seed: 44)
        let g16 = try Self.gradient(c, p, fixture, selection)
        let g32 = try Self.gradient(c, p, fixture, MatrixEngineSelection(engine: selection.engine, precision: .fp32))
        #expect(g16 != g32, "bf16 must round something")
        var squaredDifference = 0.0, squaredNorm = 0.0
        for (x, y) in zip(g16, g32) {
            squaredDifference += Double(x - y) * Double(x - y)
            squaredNorm += Double(y) * Double(y)
        }
        let relative = (squaredDifference / squaredNorm).squareRoot()
        print("MUSE \(selection): ‖g_bf16 − g_fp32‖/‖g_fp32‖ = \(relative)")
        #expect(relative < Self.bf16Bound, "\(relative)")
        let largest = g16.reduce(0) { max($0, abs($1)) }
        for micro in [1, 4] {
            let g = try Self.gradient(c, p, fixture, selection, microBatch: micro)
            let worst = zip(g, g16).reduce(0) { max($0, abs($1.0 - $1.1)) }
            #expect(worst <= 1e-5 * largest, "bf16 micro-batch \(micro): \(worst) of \(largest)")
        }
    }
}
