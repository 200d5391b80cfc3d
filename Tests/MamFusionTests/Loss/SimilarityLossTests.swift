import Testing
import TensorKit
import TestSupport
@testable import MamFusion

struct SimilarityLossTests {
    /// Four well-separated score matrices (S_clip, S_clip', S_frame, S_frame') and fused queries
    /// for one batch, in tensors so their pointers stay valid for the gradient checker.
    struct Batch {
        let problems: [LossProblem]
        let tensors: [Tensor]  // the four score matrices, then x̂
        let labels: BatchLabels
        let dimension: Int

        init(seed: UInt64, counts: [Int]) throws {
            problems = try (0 ..< 4).map {
                try LossProblem(seed: seed + UInt64($0), queriesPerVideo: counts, scale: $0 % 2 == 0 ? 1 : 4)
            }
            labels = problems[0].labels
            dimension = problems[0].dimension
            let (q, v) = (labels.queryCount, labels.videoCount)
            tensors = problems.map { Tensor(shape: [q, v], values: $0.scores) }
                + [Tensor(shape: [q, problems[0].dimension], values: problems[0].fused)]
        }

        var inputs: SimilarityLoss.Inputs {
            .init(clip: tensors[0].pointer, clipUnnormalized: tensors[1].pointer, frame: tensors[2].pointer,
                  frameUnnormalized: tensors[3].pointer, fusedQueries: tensors[4].pointer, fusedDimension: dimension)
        }

        /// Zero gradient tensors of the same shapes.
        func zeroGradients() -> [Tensor] { tensors.map { Tensor(shape: $0.shape) } }
    }

    static func gradients(_ g: [Tensor]) -> SimilarityLoss.Gradients {
        .init(clip: g[0].pointer, clipUnnormalized: g[1].pointer, frame: g[2].pointer,
              frameUnnormalized: g[3].pointer, fusedQueries: g[4].pointer)
    }

    @Test("The total is lf0·NCE(S_clip') + TRIP(S_clip) + lf1·NCE(S_frame') + TRIP(S_frame) + lf2·QDL")
    func combination() throws {
        let batch = try Batch(seed: 201, counts: LossProblem.randomCounts(seed: 201, videos: 6, maxQueries: 4))
        let loss = SimilarityLoss(configuration: .tvr)
        try loss.configuration.validate()
        for epoch in [0, 25] {
            let sampling = loss.sampling(seed: 9527, step: 3, epoch: epoch)
            #expect(sampling.useHardNegatives == (epoch >= 20))
            let r = loss.forward(batch.inputs, labels: batch.labels, sampling: sampling)
            let clipNCE = ReferenceLoss.nce(batch.problems[1]), frameNCE = ReferenceLoss.nce(batch.problems[3])
            let clipTrip = ReferenceLoss.triplet(batch.problems[0], margin: 0.2, sampling: sampling, branch: .clip)
            let frameTrip = ReferenceLoss.triplet(batch.problems[2], margin: 0.2, sampling: sampling, branch: .frame)
            let qdl = ReferenceLoss.queryDiverse(batch.problems[0], alpha: 32, delta: 0.2)
            let terms = [Double(Float(0.027)) * (clipNCE.t2v + clipNCE.v2t), clipTrip.t2v + clipTrip.v2t,
                         Double(Float(0.045)) * (frameNCE.t2v + frameNCE.v2t), frameTrip.t2v + frameTrip.v2t,
                         Double(Float(0.015)) * qdl]
            for (got, expected) in zip(r.terms.named.map(\.value), terms) {
                #expect(relativeDifference(got, expected, floor: 1e-6) < 1e-5)
            }
            #expect(relativeDifference(r.value, terms.reduce(0, +)) < 1e-5)
            #expect(r.terms.named.map(\.value).reduce(0, +) == r.terms.total)
        }
    }

    @Test("The combined backward matches finite differences over all five inputs at once", arguments: [0, 20])
    func gradientCheck(epoch: Int) throws {
        let batch = try Batch(seed: 213, counts: LossProblem.randomCounts(seed: 213, videos: 5, maxQueries: 4))
        // Larger weights than TVR's so the NCE and QDL terms are not lost next to the triplet terms;
        // a margin that keeps every hinge away from 0 on the fixture's grid of scores.
        var configuration = LossConfiguration.tvr
        configuration.clipNCEWeight = 0.5
        configuration.frameNCEWeight = 0.7
        configuration.queryDiverseWeight = 0.3
        configuration.margin = 0.2137
        configuration.hardPoolSize = 3
        let loss = SimilarityLoss(configuration: configuration)
        let sampling = loss.sampling(seed: 9527, step: 40, epoch: epoch)
        let result = loss.forward(batch.inputs, labels: batch.labels, sampling: sampling)
        let hinges = [result.clipTriplet, result.frameTriplet].flatMap { $0.selection.textToVideoHinge + $0.selection.videoToTextHinge }
        try #require(hinges.allSatisfy { abs($0) > 5e-3 }, "fixture: a hinge sits too close to 0 for finite differences")

        let grads = batch.zeroGradients()
        loss.backward(batch.inputs, labels: batch.labels, result: result, upstream: 1, into: Self.gradients(grads))
        var selectionHeld = true
        let error = GradientCheck.maxRelativeError(parameters: batch.tensors.map(\.buffer),
                                                   gradients: grads.map { UnsafeBufferPointer($0.buffer) },
                                                   directions: 4, epsilon: 1e-3) {
            let r = loss.forward(batch.inputs, labels: batch.labels, sampling: sampling)
            if r.clipTriplet.selection.textToVideoNegative != result.clipTriplet.selection.textToVideoNegative
                || r.frameTriplet.selection.videoToTextNegative != result.frameTriplet.selection.videoToTextNegative {
                selectionHeld = false
            }
            return r.value
        }
        print("SimilarityLoss gradient check, epoch \(epoch): max relative error \(error)")
        #expect(selectionHeld)
        #expect(error < 1e-2)
    }

    @Test("A batch of one video with one query gives a finite loss of 0 and zero gradients")
    func oneQueryBatch() throws {
        let batch = try Batch(seed: 221, counts: [1])
        let loss = SimilarityLoss(configuration: .charades)
        for epoch in [0, 100] {
            let r = loss.forward(batch.inputs, labels: batch.labels, sampling: loss.sampling(seed: 1, step: 0, epoch: epoch))
            #expect(abs(r.value) < 1e-6)
            let grads = batch.zeroGradients()
            loss.backward(batch.inputs, labels: batch.labels, result: r, into: Self.gradients(grads))
            #expect(grads.allSatisfy { $0.toArray().allSatisfy { abs($0) < 1e-6 } })
        }
    }

    @Test("Invalid configurations are rejected with a message")
    func validation() {
        var c = LossConfiguration.tvr
        c.hardPoolSize = 0
        #expect(throws: LossConfigurationError.self) { try c.validate() }
        c = .tvr
        c.margin = .nan
        #expect(throws: LossConfigurationError.self) { try c.validate() }
    }
}
