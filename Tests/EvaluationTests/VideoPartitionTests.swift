import Testing
@testable import Evaluation

struct VideoPartitionTests {
    @Test("chunks of eval_context_bsz, whole chunks per rank, contiguous, covering every video once",
          arguments: [(0, 100, 1), (1, 100, 3), (2179, 100, 1), (2179, 100, 2), (2179, 100, 3), (7, 3, 3), (2, 1, 3), (101, 100, 2), (1000, 100, 7)])
    func tiling(videos: Int, chunk: Int, ranks: Int) throws {
        let p = try VideoPartition(videoCount: videos, chunkSize: chunk, ranks: ranks)
        #expect(p.chunkCount == (videos + chunk - 1) / chunk)
        var next = 0, nextChunk = 0
        for r in 0..<ranks {
            let vs = p.videos(of: r), cs = p.chunks(of: r)
            #expect(vs.lowerBound == next && cs.lowerBound == nextChunk, "rank \(r) continues where rank \(r - 1) stopped")
            #expect(cs.count >= p.chunkCount / ranks && cs.count <= p.chunkCount / ranks + 1, "balanced to one chunk")
            for c in cs { #expect(p.videos(ofChunk: c).count == min(chunk, videos - c * chunk)) }
            for v in vs { #expect(p.owner(ofVideo: v) == r) }
            next = vs.upperBound; nextChunk = cs.upperBound
        }
        #expect(next == videos && nextChunk == p.chunkCount)
    }

    @Test("the last chunk may hold a single video; chunking does not depend on the world size")
    func lastChunk() throws {
        let one = try VideoPartition(videoCount: 201, chunkSize: 100, ranks: 1)
        let three = try VideoPartition(videoCount: 201, chunkSize: 100, ranks: 3)
        #expect(one.videos(ofChunk: 2) == 200..<201)
        #expect((0..<3).map(three.videos(ofChunk:)) == (0..<3).map(one.videos(ofChunk:)))
        #expect(three.videos(of: 2) == 200..<201)
        #expect(throws: EvaluationError.self) { try VideoPartition(videoCount: 5, chunkSize: 0, ranks: 1) }
    }
}

struct EmbeddingNormalizationTests {
    @Test("x / max(‖x‖, 1e-12) row by row; a zero row stays zero")
    func normalise() {
        var x: [Float] = [3, 4, 0, 0, 0, 0, 1e-20, 0, 0]
        x.withUnsafeMutableBufferPointer { EmbeddingNormalization.l2Normalize($0, dim: 3) }
        #expect(x[0] == 0.6 && x[1] == 0.8 && x[2] == 0)
        #expect(x[3] == 0 && x[4] == 0 && x[5] == 0)
        #expect(x[6] == Float(1e-20) / Float(1e-12))
    }
}
