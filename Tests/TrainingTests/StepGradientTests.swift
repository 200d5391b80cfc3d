@testable import MamFusion
import MPIKit
import TensorKit
import TestSupport
import Testing
@testable import Training

/// The whole model's hand-written backward against finite differences of the whole loss, along
/// the path training runs: `DistributedStep.run` (encoders, sharded loss head, model backward,
/// gradient all-reduce) for the gradient, `DistributedStep.loss` (the same forward) for the
/// differences — random directions in the space of every trainable tensor at once, dropout on,
/// random and hard negatives, for both models (MamFusion; GMMFormer without Mamba units and fusion).
///
/// The encoders' ReLUs are kinks too (not checked here): along a random direction a few units
/// cross 0 within ε, which limits the agreement to a few 1e-3; a wrong backward is off by O(1).
struct StepGradientTests {
    static func step(_ c: RunConfiguration, parameters: ParameterSet) -> DistributedStep {
        DistributedStep(model: c.makeModel(parameters: parameters), world: LocalWorld(), bucketBytes: 1 << 16)
    }

    @Test("whole-model gradient of the training step matches finite differences", arguments: prvrModels, [0, 25])
    func wholeModel(model: String, epoch: Int) throws {
        var c = tinyConfiguration()
        c.model = model
        c.hardPoolSize = 2
        let (p, _) = perturbedParameters(c, seed: 3)
        let step = Self.step(c, parameters: p)
        let fixture = StepFixture(c, frames: [5, 3, 2], captions: [2, 1, 3], seed: 43)
        let key = StepKey(seed: 5, step: 9, epoch: epoch, dropoutEnabled: true)
        let result = try step.run(fixture.plan(), inputs: fixture.inputs, videoNames: { "v\($0)" }, key: key)
        #expect(result.terms.total.isFinite && result.terms.total > 0)
        #expect(result.nonFinite == nil)
        let gap = Self.nearestSelectionTie(step.head as! PRVRLossHead, batch: fixture.batch)
        try #require(gap > 1e-3, "fixture: two candidate negatives lie \(gap) apart, a kink inside the finite-difference step")
        let gradients = step.model.gradients
        let error = GradientCheck.maxRelativeError(parameters: [p.storage.buffer], gradients: [UnsafeBufferPointer(gradients.storage.buffer)],
                                                   directions: 4, epsilon: 1e-2) {
            (try? step.loss(fixture.plan(), inputs: fixture.inputs, key: key).total) ?? .nan
        }
        print("whole-model gradient check through the training step, \(model), epoch \(epoch): max relative error \(error)")
        #expect(error < 1e-2, "max relative error \(error)")
    }

    /// The smallest gap between two values whose order decides something the backward holds
    /// fixed — the best two clips of a clip score (both normalisations), any two negatives of a
    /// t2v row, the two best negative queries of a v2t column — and the smallest |hinge|: a
    /// finite difference across such a kink measures the average of two slopes.
    static func nearestSelectionTie(_ head: PRVRLossHead, batch: GlobalBatch) -> Float {
        let Q = batch.queryCount, V = batch.videoCount, d = head.d, mc = head.mc
        let q = head.queries.pointer, E = head.embeddings.pointer
        var y: [Int] = []
        for (v, n) in batch.queriesPerVideo.enumerated() { y += Array(repeating: v, count: n) }
        var gap = Float.infinity
        func norm(_ x: UnsafePointer<Float>) -> Float { (0..<d).reduce(0) { $0 + x[$1] * x[$1] }.squareRoot() }
        for i in 0..<Q {
            for v in 0..<V {
                for normalised in [false, true] {
                    let products = (0..<mc).map { c -> Float in
                        let x = q + i * d, e = E + (v * (mc + 1) + c) * d
                        let dot = (0..<d).reduce(0) { $0 + x[$1] * e[$1] }
                        return normalised ? dot / (norm(x) * norm(e)) : dot
                    }.sorted(by: >)
                    gap = min(gap, products[0] - products[1])
                }
            }
        }
        for S in [head.scores.clip.pointer, head.scores.frame.pointer] {
            for i in 0..<Q {
                let negatives = (0..<V).filter { $0 != y[i] }.map { S[i * V + $0] }.sorted()
                for k in negatives.indices.dropFirst() { gap = min(gap, negatives[k] - negatives[k - 1]) }
            }
            for v in 0..<V {
                let negatives = (0..<Q).filter { y[$0] != v }.map { S[$0 * V + v] }.sorted(by: >)
                if negatives.count > 1 { gap = min(gap, negatives[0] - negatives[1]) }
            }
        }
        for h in (0..<(2 * Q)).map({ head.textToVideoHinge.pointer[$0] }) + (0..<(2 * V)).map({ head.videoToTextHinge.pointer[$0] }) {
            gap = min(gap, abs(h))
        }
        return gap
    }

    @Test("micro-batches of 1 and 2 videos give the whole share's gradient (hard negatives, dropout on)")
    func microBatches() throws {
        var c = tinyConfiguration()
        c.hardPoolSize = 2
        let (p, _) = perturbedParameters(c, seed: 6)
        let fixture = StepFixture(c, frames: [5, 3, 2, 6, 4], captions: [2, 1, 3, 1, 2], seed: 44)
        var gradients: [[Float]] = []
        for micro in [0, 1, 2] {
            let step = Self.step(c, parameters: p)
            let result = try step.run(fixture.plan(microBatch: micro), inputs: fixture.inputs, videoNames: { "v\($0)" },
                                      key: StepKey(seed: 2, step: 3, epoch: 25, dropoutEnabled: true))
            #expect(micro == 0 ? result.reencode == 0 : result.reencode > 0)
            gradients.append(Array(step.model.gradients.storage.buffer))
        }
        let largest = gradients[0].reduce(0) { max($0, abs($1)) }
        for (k, g) in gradients.enumerated().dropFirst() {
            let worst = zip(g, gradients[0]).reduce(0) { max($0, abs($1.0 - $1.1)) }
            #expect(worst <= 1e-6 * largest, "micro-batch \([0, 1, 2][k]): largest difference \(worst) of \(largest)")
        }
    }

    @Test("edge cases the reference crashes on: one video, one query", arguments: prvrModels)
    func edgeCases(model: String) throws {
        var c = tinyConfiguration()
        c.model = model
        let (p, _) = perturbedParameters(c, seed: 4)
        let step = Self.step(c, parameters: p)
        for (frames, captions) in [([4], [1]), ([4], [3]), ([3, 6], [1, 1])] {
            let fixture = StepFixture(c, frames: frames, captions: captions, seed: 41)
            let result = try step.run(fixture.plan(), inputs: fixture.inputs, videoNames: { "v\($0)" },
                                      key: StepKey(seed: 1, step: 0, epoch: 0, dropoutEnabled: true))
            #expect(result.terms.total.isFinite, "frames \(frames) captions \(captions)")
            #expect(step.model.gradients.storage.buffer.allSatisfy { $0.isFinite })
        }
    }

    @Test("each parameter group's gradient is final when it is declared: the head's when its backward ends, the encoders' as backward declares them, each once, in layout order",
          arguments: prvrModels + [ToyModel.name])
    func groupsFinalWhenDeclared(model name: String) throws {
        TestModels.register()
        var c = tinyConfiguration()
        c.model = name
        let (p, _) = perturbedParameters(c, seed: 8)
        let model = c.makeModel(parameters: p), head = model.makeHead()
        let fixture = StepFixture(c, frames: [5, 3, 2, 4], captions: [2, 1, 3, 2], seed: 45)
        let plan = fixture.plan(), key = StepKey(seed: 3, step: 1, epoch: 25, dropoutEnabled: true)
        let embeddings = EmbeddingBuffers(model.embeddings), gradients = EmbeddingBuffers(model.embeddings)
        embeddings.reserve(queries: plan.ownQueryCount, videos: plan.ownVideoCount)
        let batch = plan.encoderBatch(plan.microBatches[0], inputs: fixture.inputs(plan.microBatches[0]))
        model.gradients.zero()
        model.encode(batch, into: embeddings.all, dropout: key.dropout)
        var collectives = StepCollectives(world: LocalWorld())
        _ = try head.forward(embeddings, batch: plan.batch, assignment: plan.assignment, key: key, collectives: &collectives)
        try head.backward(embeddings, into: gradients, collectives: &collectives)
        var declared: [ParameterGroup] = [], snapshots: [ParameterGroup: [Float]] = [:]
        func done(_ group: ParameterGroup) {
            declared.append(group)
            snapshots[group] = Array(model.gradients.storage.buffer[model.layout.range(of: group)])
        }
        head.parameterGroups.forEach(done)
        model.backward(batch, from: gradients.all, dropout: key.dropout, groupDone: done)
        #expect(declared == model.layout.reducedGroups, "declared \(declared), layout \(model.layout.reducedGroups)")
        for group in model.layout.reducedGroups {
            let final = Array(model.gradients.storage.buffer[model.layout.range(of: group)])
            #expect(snapshots[group] == final, "\(name): group \(group) changed after it was declared final")
            #expect(final.contains { $0 != 0 }, "\(name): group \(group) got no gradient")
        }
    }
}
