import FeatureData
import Foundation
import MamFusion
import MPIKit
import TensorKit
import Testing
@testable import Training

/// Evaluation encodes videos in chunks of `eval_context_bsz`, each padded to its own longest
/// video (MODEL.md §8): a video's frame embedding depends on its chunk's padded length through the
/// Gaussian branches — exactly as in the reference — and on nothing else.
struct SplitEvaluationTests {
    @Test("chunked encoding reproduces each video encoded with its chunk's padded length; a one-video chunk works")
    func chunkPadding() throws {
        let root = try writeToyCollection(trainVideos: 4, evaluationVideos: 7, frames: 3...12, seed: 9, label: "chunks")
        var c = tinyTrainingConfiguration()
        c.evalContextBatchSize = 3   // chunks of videos 0–2, 3–5 and 6 (a single-video chunk)
        let model = MamFusionModel(configuration: c, parameters: ParameterSet(layout: c.parameterLayout))
        ParameterInitializer.initialize(model.parameters, seed: 21)
        let frameBranch = model.encoders.frameBranch
        // Sharpen the attention (larger query/key weights) so the Gaussian's effect is far above rounding.
        for spec in model.layout.specs where spec.name.hasPrefix("frame_encoder") && (spec.name.hasSuffix("query.weight") || spec.name.hasSuffix("key.weight")) {
            let t = model.parameters.tensor(spec)
            for j in 0..<t.count { t.pointer[j] *= 40 }
        }
        let loader = try SplitLoader(source: FeatureDataset.open(.release(CollectionPaths(root: root, collection: "toy", visualFeature: "synthetic")),
                                                                split: "val", visualDimension: 20, queryDimension: 12),
                                     options: LoaderOptions(mapSize: c.mapSize, maxContextLength: c.maxContextLength, maxDescriptionLength: c.maxDescriptionLength))
        let evaluation = SplitEvaluation(model: model, world: LocalWorld(), loader: loader)
        let shard = try evaluation.encodeVideos()
        let d = c.hiddenSize, V = loader.index.videoCount
        #expect(shard.count == V)
        var dependsOnPadding = false
        for v in 0..<V {
            let chunk = Array((v / 3 * 3)..<min(v / 3 * 3 + 3, V))
            let chunkLongest = try loader.loadVideos(chunk).longestFrameInput
            let alone = try loader.loadVideos([v])
            func embed(paddedLength: Int) -> [Float] {
                frameBranch.forward(alone.frames.base, batch: SequenceBatch(lengths: alone.frameLengths, paddedLength: paddedLength), dropout: .disabled)
                var f = Array(UnsafeBufferPointer(start: frameBranch.output.pointer, count: d))
                let norm = max(f.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-12)
                for j in f.indices { f[j] /= norm }
                return f
            }
            let expected = embed(paddedLength: chunkLongest)
            let got = Array(UnsafeBufferPointer(start: shard.frames.pointer + v * d, count: d))
            for j in 0..<d { #expect(abs(got[j] - expected[j]) < 1e-5, "video \(v) feature \(j)") }
            if alone.frameLengths[0] < chunkLongest {
                let own = embed(paddedLength: alone.frameLengths[0])
                // 20× the tolerance of the equal-padding comparison above.
                if zip(own, got).contains(where: { abs($0 - $1) > 2e-4 }) { dependsOnPadding = true }
            }
        }
        #expect(dependsOnPadding, "a shorter video's embedding must change with its chunk's padded length")
        let queries = try evaluation.encodeQueries()
        #expect(queries.count == loader.index.captionCount && queries.groundTruth == loader.index.captions.map(\.videoIndex))
        let metrics = try evaluation.evaluate().metrics
        #expect(metrics.queries == loader.index.captionCount && metrics.r100 == 100)
    }
}
