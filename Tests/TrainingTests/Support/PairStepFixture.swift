@testable import FeatureData
import MamFusion
import TensorKit
import TestSupport
import Training

/// A tiny MUSE configuration: W 8, 2×2 patches, 3 frames, 2 blocks, d_state 4, drop path 0.3
/// (so every block but the first drops).
func tinyMUSEConfiguration(trainPyramid: Bool = false) -> RunConfiguration {
    var c = RunConfiguration()
    c.model = MUSEModel.name
    c.hiddenSize = 8
    c.heads = 1
    c.queryFeatureSize = 8
    c.visualFeatureSize = 8
    c.maxContextLength = 12
    c.mapSize = 4
    c.museGrid = 2
    c.museFrames = 3
    c.museBlocks = 2
    c.museState = 4
    c.museDropPath = 0.3
    c.museTrainPyramid = trainPyramid
    return c
}

/// One global batch of (video, caption) pairs with random CLIP tokens, for in-process MUSE step
/// tests: `pairs` names each pair's dataset video (repeats: pairs sharing a video); every video
/// has T token frames of which `realFrames[v]` are real. `plan` and `inputs` as `StepFixture`'s.
struct PairStepFixture {
    let batch: GlobalBatch
    let assignment: RankAssignment
    let local: TrainingBatch

    func plan(microBatch: Int = 0) -> StepPlan {
        StepPlan(step: 0, batch: batch, assignment: assignment, rank: 0, microBatch: microBatch)
    }

    /// The inputs of micro-batch `m`: its pairs' token blocks and captions.
    func inputs(_ m: MicroBatch) -> TrainingBatch {
        let v = local.videos, t = local.queries, dv = v.visualDimension, w = t.queryDimension, frames = v.frameLengths.first ?? 0
        let tokens = FloatStorage(count: m.videos.count * frames * dv), captions = FloatStorage(count: m.queries.count * w)
        tokens.base.update(from: v.frames.base + m.videos.lowerBound * frames * dv, count: tokens.count)
        captions.base.update(from: t.tokens.base + m.queries.lowerBound * w, count: captions.count)
        let videos = VideoInputs(videos: Array(v.videos[m.videos]), visualDimension: dv, mapSize: 0, clip: FloatStorage(count: 0), frames: tokens,
                                 frameLengths: Array(v.frameLengths[m.videos]), frameOffsets: (0...m.videos.count).map { $0 * frames },
                                 storedFrameCounts: Array(v.storedFrameCounts[m.videos]))
        let queries = QueryInputs(queries: Array(t.queries[m.queries]), queryDimension: w, tokens: captions,
                                  tokenLengths: Array(repeating: 1, count: m.queries.count), tokenOffsets: Array(0...m.queries.count))
        return TrainingBatch(videos: videos, queries: queries, queryVideoPosition: Array(0..<m.queries.count))
    }

    init(_ c: RunConfiguration, pairs: [Int], realFrames: [Int], seed: UInt64) {
        let d = MUSEModel.dimensions(c), w = d.width, frameFloats = d.tokensPerFrame * w
        batch = GlobalBatch(pairs: pairs.enumerated().map { ($1, $0) }, storedFrames: { _ in d.frames }, maxContextLength: c.maxContextLength)
        assignment = RankAssignment(batch: batch, ranks: 1, mapSize: c.mapSize)
        let padding = randomBuffer(frameFloats, seed: seed)
        let stored = randomBuffer(realFrames.count * d.frames * frameFloats, seed: seed + 1)
        for (v, real) in realFrames.enumerated() {
            for f in real..<d.frames { (stored.pointer + (v * d.frames + f) * frameFloats).update(from: padding.pointer, count: frameFloats) }
        }
        let tokens = FloatStorage(count: pairs.count * d.videoFloats)
        for (i, v) in pairs.enumerated() { (tokens.base + i * d.videoFloats).update(from: stored.pointer + v * d.videoFloats, count: d.videoFloats) }
        let captions = randomBuffer(pairs.count * w, seed: seed + 2)
        let videos = VideoInputs(videos: pairs, visualDimension: frameFloats, mapSize: 0, clip: FloatStorage(count: 0), frames: tokens,
                                 frameLengths: Array(repeating: d.frames, count: pairs.count), frameOffsets: (0...pairs.count).map { $0 * d.frames },
                                 storedFrameCounts: pairs.map { realFrames[$0] })
        let queries = QueryInputs(queries: Array(pairs.indices), queryDimension: w, tokens: captions.storage,
                                  tokenLengths: Array(repeating: 1, count: pairs.count), tokenOffsets: Array(0...pairs.count))
        local = TrainingBatch(videos: videos, queries: queries, queryVideoPosition: Array(pairs.indices))
    }
}
