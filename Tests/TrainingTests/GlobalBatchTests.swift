import MamFusion
import Testing
import MamFusion
@testable import Training

struct GlobalBatchTests {
    @Test("an epoch is a seeded permutation cut into batches; the last may be short")
    func sampler() {
        let s = EpochSampler(videoCount: 10, batchSize: 4, seed: 9527)
        #expect(s.stepsPerEpoch == 3)
        let p = s.permutation(epoch: 0)
        #expect(p.sorted() == Array(0..<10))
        #expect(s.permutation(epoch: 0) == p && s.permutation(epoch: 1) != p)
        #expect(s.batch(epoch: 0, index: 2) == Array(p[8..<10]))
        #expect((0..<3).flatMap { s.batch(epoch: 0, index: $0) } == p)
    }

    @Test("videos are ordered by frames descending (stable), captions flattened in video order")
    func ordering() {
        let frames = [5: 40, 7: 90, 2: 40, 9: 600]
        let captions = [5: [10, 11], 7: [14], 2: [3, 4, 5], 9: [20]]
        let b = GlobalBatch(sampled: [5, 7, 2, 9], storedFrames: { frames[$0]! }, maxContextLength: 128, captionsOfVideo: { captions[$0]! })
        #expect(b.videos == [9, 7, 5, 2])           // 600 → clamped to 128, then 90, then the two 40s in sampler order
        #expect(b.frameLengths == [128, 90, 40, 40])
        #expect(b.queries == [20, 14, 10, 11, 3, 4, 5])
        #expect(b.queriesPerVideo == [1, 1, 2, 3] && b.queryOffsets == [0, 1, 2, 4])
        #expect(b.paddedLength == 128)
    }

    @Test("the rank split covers every video once, balances work and keeps captions with their video")
    func assignment() {
        let frames = (0..<13).map { 32 + ($0 * 37) % 97 }
        let b = GlobalBatch(sampled: Array(0..<13), storedFrames: { frames[$0] }, maxContextLength: 128, captionsOfVideo: { [$0 * 2, $0 * 2 + 1] })
        for ranks in 1...4 {
            let a = RankAssignment(batch: b, ranks: ranks, mapSize: 32)
            #expect(a.videosOfRank.flatMap { $0 }.sorted() == Array(0..<13))
            #expect(a.queriesOfRank.flatMap { $0 }.sorted() == Array(0..<26))
            for r in 0..<ranks {
                #expect(a.videosOfRank[r] == a.videosOfRank[r].sorted())
                #expect(a.queriesOfRank[r] == a.videosOfRank[r].flatMap { [b.queryOffsets[$0], b.queryOffsets[$0] + 1] })
            }
            let loads = a.videosOfRank.map { $0.reduce(0) { $0 + b.frameLengths[$1] + 32 + 60 } }
            #expect(Double(loads.max()!) <= 1.34 * Double(loads.reduce(0, +)) / Double(ranks) + 200)
        }
        let tiny = GlobalBatch(sampled: [0], storedFrames: { _ in 10 }, maxContextLength: 128, captionsOfVideo: { _ in [0] })
        let a = RankAssignment(batch: tiny, ranks: 3, mapSize: 32)
        #expect(a.videosOfRank == [[0], [], []])
    }

    @Test("with at least two loss-head groups per rank, every group of consecutive videos stays on one rank and work stays balanced")
    func groupsStayTogether() {
        let G = TiledSimilarity.videoGroup
        let frames = (0..<133).map { 32 + ($0 * 37) % 97 }
        let b = GlobalBatch(sampled: Array(0..<133), storedFrames: { frames[$0] }, maxContextLength: 128, captionsOfVideo: { [$0 * 5] })
        for ranks in [2, 3, 8] {
            let a = RankAssignment(batch: b, ranks: ranks, mapSize: 32)
            #expect(a.videosOfRank.flatMap { $0 }.sorted() == Array(0..<133))
            for owned in a.videosOfRank {
                for v in owned { #expect(owned.contains(v / G * G) && owned.contains(min(v / G * G + G, 133) - 1), "\(ranks) ranks: video \(v)") }
            }
            let loads = a.videosOfRank.map { $0.reduce(0) { $0 + b.frameLengths[$1] + 32 + 30 } }
            #expect(Double(loads.max()!) <= 1.34 * Double(loads.reduce(0, +)) / Double(ranks) + 8 * 200, "\(ranks) ranks: \(loads)")
        }
    }
}
