import MamFusion
import MPIKit
import TensorKit
import TestSupport
import Testing
@testable import Training

/// The sharded loss head against the loss head it replaced (`RedundantLossHead`, the whole-matrix
/// computation in one process) on the same embeddings: the same loss terms, the same gradients of
/// the embeddings and of the fusion modules — for MamFusion, and for GMMFormer (no fusion, the
/// query-diverse loss on the normalised q2). Here on one rank; the multi-rank runs of
/// `ShardedHeadRanksTests` hold every world size to the same numbers.
struct ShardedHeadOracleTests {
    static let d = 16, mc = 4

    /// Largest |a − b| over max |b| (0 for two zero tensors).
    static func relativeDifference(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Double {
        var worst = 0.0, scale = 0.0
        for i in 0..<count {
            worst = max(worst, Double(abs(a[i] - b[i])))
            scale = max(scale, Double(abs(b[i])))
        }
        return scale == 0 ? worst : worst / scale
    }

    @Test("one rank: loss terms, embedding gradients and fusion gradients equal the whole-matrix head",
          arguments: prvrModels, [(0, 1), (25, 1), (25, 3)])
    func matchesOracle(model kind: String, regime: (Int, Int)) throws {
        let (epoch, pool) = regime
        var c = tinyConfiguration()
        c.model = kind
        c.hardNegativeStartEpoch = 20
        c.hardPoolSize = pool
        let (p, _) = perturbedParameters(c, seed: 5)
        let model = c.makeModel(parameters: p)
        let captions = [2, 1, 3, 2, 1, 2, 3, 1, 2]
        let fixture = StepFixture(c, frames: [5, 9, 3, 7, 4, 6, 2, 8, 5], captions: captions, seed: 17)
        let Q = fixture.batch.queryCount, V = fixture.batch.videoCount, d = Self.d
        let q = randomBuffer(Q * d, seed: 1), q2 = randomBuffer(Q * d, seed: 2)
        let C = randomBuffer(V * Self.mc * d, seed: 3), F = randomBuffer(V * d, seed: 4)
        let key = StepKey(seed: 9, step: 4, epoch: epoch, dropoutEnabled: false)
        let sampling = LossConfiguration(c).sampling(seed: key.seed, step: key.step, epoch: key.epoch)

        let head = model.makeHead() as! PRVRLossHead
        var collectives = StepCollectives(world: LocalWorld())
        model.gradients.zero()
        let embeddings = EmbeddingBuffers(model.embeddings), gradients = EmbeddingBuffers(model.embeddings)
        embeddings.reserve(queries: Q, videos: V)
        for (slot, x) in [(head.slots.q, q), (head.slots.q2, q2), (head.slots.clips, C), (head.slots.frame, F)] {
            embeddings.pointer(slot).update(from: x.pointer, count: embeddings.rows(slot) * slot.width)
        }
        let terms = try head.forward(embeddings, batch: fixture.batch, assignment: fixture.assignment, key: key, collectives: &collectives)
        try head.backward(embeddings, into: gradients, collectives: &collectives)

        let oracleGradients = ParameterSet(layout: model.layout)
        let fused = kind == MamFusionModel.name
        let oracle = RedundantLossHead(configuration: c, fused: fused, parameters: p, gradients: oracleGradients)
        let labels = try BatchLabels(queriesPerVideo: fixture.batch.queriesPerVideo)
        let expected = oracle.forward(q: q.pointer, q2: q2.pointer, clipEmbeddings: C.pointer, frameEmbeddings: F.pointer,
                                      labels: labels, sampling: sampling)
        oracle.backward(q: q.pointer, q2: q2.pointer, clipEmbeddings: C.pointer, frameEmbeddings: F.pointer, labels: labels)

        for ((name, value), (_, reference)) in zip(terms.named, expected.named) {
            #expect(abs(value - reference) <= 1e-5 * max(abs(reference), 1e-3), "\(name): \(value) vs \(reference)")
        }
        for (name, slot, b, n) in [("dq", head.slots.q, oracle.dq, Q * d), ("dq2", head.slots.q2, oracle.dq2, Q * d),
                                   ("dC", head.slots.clips, oracle.dC, V * Self.mc * d), ("dF", head.slots.frame, oracle.dF, V * d)] {
            let difference = Self.relativeDifference(gradients.pointer(slot), b.pointer, count: n)
            #expect(difference < 1e-5, "\(name): \(difference)")
        }
        #expect((terms["qdl"] ?? 0) > 0, "the query-diverse term must take part")
        #expect((head.stage is FusionStage) == fused && head.parameterGroups == (fused ? [.fusion] : []))
        for spec in model.layout.specs where spec.group == .fusion {
            let difference = Self.relativeDifference(model.gradients.tensor(spec).pointer, oracleGradients.tensor(spec).pointer, count: spec.count)
            #expect(difference < 1e-5, "\(spec.name): \(difference)")
        }
    }
}
