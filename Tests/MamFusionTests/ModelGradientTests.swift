import TensorKit
import TestSupport
import Testing
@testable import MamFusion

/// The whole model's hand-written backward against finite differences of the whole loss along
/// random directions in parameter space (every trainable tensor at once), with dropout on and both
/// random and hard negatives.
struct ModelGradientTests {
    struct Batch {
        let clips: Tensor, frames: Tensor, tokens: Tensor
        let videos: SequenceBatch, queries: SequenceBatch
        let labels: BatchLabels
        var inputs: MamFusionModel.Inputs {
            .init(clipFeatures: clips.pointer, frameFeatures: frames.pointer, videos: videos, tokenFeatures: tokens.pointer, queries: queries)
        }
    }

    static func batch(_ c: RunConfiguration, frames: [Int] = [5, 3, 2], queriesPerVideo: [Int] = [2, 1, 3],
                      tokens: [Int] = [3, 5, 2, 7, 4, 1], seed: UInt64 = 40) throws -> Batch {
        let videos = SequenceBatch(lengths: frames, paddedLength: frames.max()!)
        let queries = SequenceBatch(lengths: tokens)
        return Batch(clips: randomBuffer(frames.count * c.mapSize * c.visualFeatureSize, seed: seed),
                     frames: randomBuffer(videos.rows * c.visualFeatureSize, seed: seed + 1),
                     tokens: randomBuffer(queries.rows * c.queryFeatureSize, seed: seed + 2),
                     videos: videos, queries: queries, labels: try BatchLabels(queriesPerVideo: queriesPerVideo))
    }

    @Test("whole-model gradient matches finite differences", arguments: [0, 25])
    func wholeModel(epoch: Int) throws {
        var c = tinyConfiguration()
        c.hardPoolSize = 2
        let (p, _) = perturbedParameters(c, seed: 3)
        let model = MamFusionModel(configuration: c, parameters: p)
        let b = try Self.batch(c)
        let dropout = DropoutContext(seed: 5, step: 9, enabled: true)
        let sampling = model.lossHead.loss.sampling(seed: 5, step: 9, epoch: epoch)
        model.gradients.zero()
        let terms = model.forwardBackward(b.inputs, labels: b.labels, dropout: dropout, sampling: sampling)
        #expect(terms.total.isFinite && terms.total > 0)
        let error = GradientCheck.maxRelativeError(parameters: [p.storage.buffer], gradients: [UnsafeBufferPointer(model.gradients.storage.buffer)],
                                                   directions: 4, epsilon: 1e-2) {
            model.loss(b.inputs, labels: b.labels, dropout: dropout, sampling: sampling).total
        }
        print("whole-model gradient check, epoch \(epoch): max relative error \(error)")
        #expect(error < 1e-2, "max relative error \(error)")
    }

    @Test("edge cases the reference crashes on: one video, one query")
    func edgeCases() throws {
        let c = tinyConfiguration()
        let (p, _) = perturbedParameters(c, seed: 4)
        let model = MamFusionModel(configuration: c, parameters: p)
        for (frames, perVideo, tokens) in [([4], [1], [3]), ([4], [3], [2, 5, 1]), ([3, 6], [1, 1], [2, 2])] {
            let b = try Self.batch(c, frames: frames, queriesPerVideo: perVideo, tokens: tokens)
            model.gradients.zero()
            let terms = model.forwardBackward(b.inputs, labels: b.labels, dropout: DropoutContext(seed: 1, step: 0, enabled: true),
                                              sampling: model.lossHead.loss.sampling(seed: 1, step: 0, epoch: 0))
            #expect(terms.total.isFinite, "frames \(frames) queries \(perVideo)")
            let finite = model.gradients.storage.buffer.allSatisfy { $0.isFinite }
            #expect(finite)
        }
    }
}
