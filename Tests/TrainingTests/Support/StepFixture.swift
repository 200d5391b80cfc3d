@testable import FeatureData
import MamFusion
import TensorKit
import TestSupport
import Training

/// One global batch of random inputs for in-process step tests: the batch, its one-rank
/// assignment and the loaded inputs, shaped by a tiny configuration; `plan` is its step plan,
/// `inputs` cuts the loaded share into a micro-batch's inputs, as the loader would load them.
struct StepFixture {
    let batch: GlobalBatch
    let assignment: RankAssignment
    let local: TrainingBatch

    /// The plan of this batch on one rank, in micro-batches of `microBatch` videos (0: one).
    func plan(microBatch: Int = 0) -> StepPlan {
        StepPlan(step: 0, batch: batch, assignment: assignment, rank: 0, microBatch: microBatch)
    }

    /// The inputs of micro-batch `m` (its videos and their captions, copied out of `local`).
    func inputs(_ m: MicroBatch) -> TrainingBatch {
        let v = local.videos, t = local.queries, dv = v.visualDimension, dq = t.queryDimension
        let frameRows = v.frameOffsets[m.videos.upperBound] - v.frameOffsets[m.videos.lowerBound]
        let tokenRows = t.tokenOffsets[m.queries.upperBound] - t.tokenOffsets[m.queries.lowerBound]
        let clip = FloatStorage(count: m.videos.count * v.mapSize * dv), frames = FloatStorage(count: frameRows * dv)
        let tokens = FloatStorage(count: tokenRows * dq)
        clip.base.update(from: v.clip.base + m.videos.lowerBound * v.mapSize * dv, count: clip.count)
        frames.base.update(from: v.frames.base + v.frameOffsets[m.videos.lowerBound] * dv, count: frames.count)
        tokens.base.update(from: t.tokens.base + t.tokenOffsets[m.queries.lowerBound] * dq, count: tokens.count)
        let videos = VideoInputs(videos: Array(v.videos[m.videos]), visualDimension: dv, mapSize: v.mapSize, clip: clip, frames: frames,
                                 frameLengths: Array(v.frameLengths[m.videos]),
                                 frameOffsets: v.frameOffsets[m.videos.lowerBound...m.videos.upperBound].map { $0 - v.frameOffsets[m.videos.lowerBound] },
                                 storedFrameCounts: Array(v.storedFrameCounts[m.videos]))
        let queries = QueryInputs(queries: Array(t.queries[m.queries]), queryDimension: dq, tokens: tokens,
                                  tokenLengths: Array(t.tokenLengths[m.queries]),
                                  tokenOffsets: t.tokenOffsets[m.queries.lowerBound...m.queries.upperBound].map { $0 - t.tokenOffsets[m.queries.lowerBound] })
        return TrainingBatch(videos: videos, queries: queries,
                             queryVideoPosition: local.queryVideoPosition[m.queries].map { $0 - m.videos.lowerBound })
    }

    /// - Parameters:
    ///   - frames: stored frames of each video (the batch orders them longest first).
    ///   - captions: captions of each video.
    init(_ c: RunConfiguration, frames: [Int], captions: [Int], tokens: ClosedRange<Int> = 2...6, seed: UInt64) {
        var offsets = [0]
        for n in captions { offsets.append(offsets.last! + n) }
        batch = GlobalBatch(sampled: Array(frames.indices), storedFrames: { frames[$0] }, maxContextLength: c.maxContextLength,
                            captionsOfVideo: { Array(offsets[$0]..<offsets[$0 + 1]) })
        assignment = RankAssignment(batch: batch, ranks: 1, mapSize: c.mapSize)
        var rng = SplitMix64(state: seed)
        let lengths = batch.frameLengths
        var frameOffsets = [0]
        for n in lengths { frameOffsets.append(frameOffsets.last! + n) }
        let clip = randomBuffer(batch.videoCount * c.mapSize * c.visualFeatureSize, seed: seed + 1).storage
        let framesStorage = randomBuffer(frameOffsets.last! * c.visualFeatureSize, seed: seed + 2).storage
        let videos = VideoInputs(videos: batch.videos, visualDimension: c.visualFeatureSize, mapSize: c.mapSize, clip: clip,
                                 frames: framesStorage, frameLengths: lengths, frameOffsets: frameOffsets,
                                 storedFrameCounts: batch.videos.map { frames[$0] })
        let tokenLengths = batch.queries.map { _ in tokens.lowerBound + rng.below(tokens.count) }
        var tokenOffsets = [0]
        for n in tokenLengths { tokenOffsets.append(tokenOffsets.last! + n) }
        let tokenStorage = randomBuffer(tokenOffsets.last! * c.queryFeatureSize, seed: seed + 3).storage
        let queries = QueryInputs(queries: batch.queries, queryDimension: c.queryFeatureSize, tokens: tokenStorage,
                                  tokenLengths: tokenLengths, tokenOffsets: tokenOffsets)
        var position: [Int] = []
        for (v, n) in batch.queriesPerVideo.enumerated() { position += Array(repeating: v, count: n) }
        local = TrainingBatch(videos: videos, queries: queries, queryVideoPosition: position)
    }
}
