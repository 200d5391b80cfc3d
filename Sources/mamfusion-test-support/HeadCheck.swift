import ArgumentParser
import CounterRandom
import Foundation
import MamFusion
import MPIKit
import TensorKit
import TestSupport
import Training

/// `mpirun -np P mamfusion-test-support head-check …`: the sharded loss head on P ranks over one
/// synthetic global batch of embeddings (the same on every world size: drawn per global item),
/// and what the tests compare across world sizes, printed by rank 0 as one JSON object:
/// - `scores`: per global video, a hash of the bits of its four score columns and two arg-max
///   columns (must be identical on every P);
/// - `t2v`, `v2t`: every chosen negative (must be identical on every P), and `agree`: whether
///   every rank took the same t2v decisions;
/// - `terms`, `norms`: the loss terms and the norms of the summed gradients of q, q2, C, F and
///   the fusion parameters (equal on every P up to summation order — a ×P bug shows here;
///   `--model gmmformer`: no fusion, the query-diverse loss on q2);
/// - `oracle`: the largest relative differences from the whole-matrix head of one process
///   (`RedundantLossHead`) on the same embeddings, computed on rank 0 (skipped with `--ties`,
///   whose exact ties the whole-matrix product need not reproduce bit for bit).
struct HeadCheck: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "head-check", abstract: "Run the sharded loss head on synthetic embeddings.")

    @Option var videos = 11
    @Option(help: "Captions per video are drawn in 1…this.") var maxCaptions = 4
    @Option var hidden = 16
    @Option var heads = 2
    @Option var clips = 4
    @Option(help: "hard_pool_size.") var pool = 3
    @Flag(help: "Hard negatives (else random).") var hard = false
    @Flag(help: "Make video 2k+1's embeddings a copy of video 2k's: exact score ties across ranks.") var ties = false
    @Option var seed: UInt64 = 7
    @Option(name: .customLong("model"), help: "mamfusion or gmmformer.") var modelName = MamFusionModel.name

    func run() throws {
        let world = try Communicator.world()
        var c = RunConfiguration()
        try c.set("model", yaml: modelName)
        c.hiddenSize = hidden
        c.heads = heads
        c.mapSize = clips
        c.hardPoolSize = pool
        c.hardNegativeStartEpoch = 1
        let d = hidden, mc = clips
        var rng = SplitMix64(state: seed)
        let frames = (0..<videos).map { _ in 1 + rng.below(12) }
        let captions = (0..<videos).map { _ in 1 + rng.below(maxCaptions) }
        var offsets = [0]
        for n in captions { offsets.append(offsets.last! + n) }
        let batch = GlobalBatch(sampled: Array(0..<videos), storedFrames: { frames[$0] }, maxContextLength: c.maxContextLength,
                                captionsOfVideo: { Array(offsets[$0]..<offsets[$0 + 1]) })
        let assignment = RankAssignment(batch: batch, ranks: world.size, mapSize: mc)
        let Q = batch.queryCount, V = batch.videoCount

        // Global embeddings in global order, the same on every world size.
        let q = randomBuffer(Q * d, seed: seed + 1), q2 = randomBuffer(Q * d, seed: seed + 2)
        let C = randomBuffer(V * mc * d, seed: seed + 3), F = randomBuffer(V * d, seed: seed + 4)
        if ties {
            for v in stride(from: 1, to: V, by: 2) {
                (C.pointer + v * mc * d).update(from: C.pointer + (v - 1) * mc * d, count: mc * d)
                (F.pointer + v * d).update(from: F.pointer + (v - 1) * d, count: d)
            }
        }
        let myVideos = assignment.videosOfRank[world.rank], myQueries = assignment.queriesOfRank[world.rank]
        func rows(_ x: Tensor, _ indices: [Int], width: Int) -> Tensor {
            let out = Tensor(shape: [max(indices.count * width, 1)])
            for (i, g) in indices.enumerated() { (out.pointer + i * width).update(from: x.pointer + g * width, count: width) }
            return out
        }
        let lq = rows(q, myQueries, width: d), lq2 = rows(q2, myQueries, width: d)
        let lC = rows(C, myVideos, width: mc * d), lF = rows(F, myVideos, width: d)

        let (parameters, _) = perturbedParameters(c, seed: seed + 5)
        let model = c.makeModel(parameters: parameters)
        let head = model.makeHead() as! PRVRLossHead
        var collectives = StepCollectives(world: world)
        let key = StepKey(seed: seed, step: 3, epoch: hard ? 1 : 0, dropoutEnabled: false)
        let sampling = head.loss.sampling(seed: key.seed, step: key.step, epoch: key.epoch)
        model.gradients.zero()
        let embeddings = EmbeddingBuffers(model.embeddings), gradients = EmbeddingBuffers(model.embeddings)
        embeddings.reserve(queries: myQueries.count, videos: myVideos.count)
        for (slot, x) in [(head.slots.q, lq), (head.slots.q2, lq2), (head.slots.clips, lC), (head.slots.frame, lF)] {
            embeddings.pointer(slot).update(from: x.pointer, count: embeddings.rows(slot) * slot.width)
        }
        let terms = try head.forward(embeddings, batch: batch, assignment: assignment, key: key, collectives: &collectives)
        try head.backward(embeddings, into: gradients, collectives: &collectives)

        // Score columns: one hash per own video, gathered by global video.
        var hashes = [Int64](repeating: 0, count: V)
        let s = head.scores
        for (j, v) in myVideos.enumerated() {
            var h: UInt64 = 1469598103934665603
            func mix(_ x: UInt32) { h = (h ^ UInt64(x)) &* 1099511628211 }
            for i in 0..<Q {
                let at = i * myVideos.count + j
                for m in [s.clip, s.clipUnnormalized, s.frame, s.frameUnnormalized] { mix(m.pointer[at].bitPattern) }
                mix(UInt32(bitPattern: s.argmaxClip.pointer[at]))
                mix(UInt32(bitPattern: s.argmaxClipUnnormalized.pointer[at]))
            }
            hashes[v] = Int64(bitPattern: h)
        }
        hashes = try world.allreduce(hashes, .sum)  // each entry has one owner: the sum is that value

        // Negatives: t2v on every rank (must agree), v2t by owner.
        let t2v = (0..<(2 * Q)).map { Int64(head.textToVideoNegative.pointer[$0]) }
        var t2vHash: UInt64 = 1469598103934665603
        for x in t2v { t2vHash = (t2vHash ^ UInt64(bitPattern: x)) &* 1099511628211 }
        for b in 0..<2 { for i in 0..<Q { t2vHash = (t2vHash ^ UInt64(head.textToVideoHinge.pointer[b * Q + i].bitPattern)) &* 1099511628211 } }
        let agree = try world.allreduce(Int64(bitPattern: t2vHash), .max) == (try world.allreduce(Int64(bitPattern: t2vHash), .min))
        var v2t = [Int64](repeating: 0, count: 2 * V)
        for b in 0..<2 { for (j, v) in myVideos.enumerated() { v2t[b * V + v] = Int64(head.videoToTextNegative.pointer[b * myVideos.count + j]) } }
        v2t = try world.allreduce(v2t, .sum)

        // Summed gradients in global order.
        func global(_ slot: EmbeddingLayout.Slot, _ indices: [Int], count: Int) throws -> [Float] {
            let local = gradients.pointer(slot), width = slot.width
            var out = [Float](repeating: 0, count: count * width)
            for (i, g) in indices.enumerated() { for k in 0..<width { out[g * width + k] = local[i * width + k] } }
            return try world.allreduce(out, .sum)
        }
        let dq = try global(head.slots.q, myQueries, count: Q), dq2 = try global(head.slots.q2, myQueries, count: Q)
        let dC = try global(head.slots.clips, myVideos, count: V), dF = try global(head.slots.frame, myVideos, count: V)
        let fusionRange = model.layout.range(of: .fusion)
        let fusion = try world.allreduce(Array(model.gradients.storage.buffer[fusionRange]), .sum)
        func norm(_ x: [Float]) -> Double { x.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot() }

        guard world.rank == 0 else { return }
        var report: [String: Any] = [
            "ranks": world.size, "terms": terms.named.map(\.value), "scores": hashes.map(String.init),
            "t2v": t2v, "v2t": v2t, "agree": agree,
            "norms": ["dq": norm(dq), "dq2": norm(dq2), "dC": norm(dC), "dF": norm(dF), "fusion": norm(fusion)],
            "query_video": batch.queriesPerVideo.enumerated().flatMap { v, n in Array(repeating: v, count: n) },
            "video_owner": (0..<V).map { v in assignment.videosOfRank.firstIndex { $0.contains(v) }! },
        ]
        if !ties {
            let oracleGradients = ParameterSet(layout: model.layout)
            let oracle = RedundantLossHead(configuration: c, fused: model is MamFusionModel, parameters: parameters, gradients: oracleGradients)
            let labels = try BatchLabels(queriesPerVideo: batch.queriesPerVideo)
            let expected = oracle.forward(q: q.pointer, q2: q2.pointer, clipEmbeddings: C.pointer, frameEmbeddings: F.pointer,
                                          labels: labels, sampling: sampling)
            oracle.backward(q: q.pointer, q2: q2.pointer, clipEmbeddings: C.pointer, frameEmbeddings: F.pointer, labels: labels)
            func difference(_ a: [Float], _ b: UnsafePointer<Float>) -> Double {
                var worst = 0.0, scale = 0.0
                for i in a.indices { worst = max(worst, Double(abs(a[i] - b[i]))); scale = max(scale, Double(abs(b[i]))) }
                return scale == 0 ? worst : worst / scale
            }
            let termDifference = zip(terms.named, expected.named).map { abs($0.value - $1.value) / max(abs($1.value), 1e-3) }.max() ?? 0
            report["oracle"] = [
                "terms": termDifference,
                "dq": difference(dq, oracle.dq.pointer), "dq2": difference(dq2, oracle.dq2.pointer),
                "dC": difference(dC, oracle.dC.pointer), "dF": difference(dF, oracle.dF.pointer),
                "fusion": difference(fusion, oracleGradients.storage.base + fusionRange.lowerBound),
            ]
        }
        let data = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }
}
