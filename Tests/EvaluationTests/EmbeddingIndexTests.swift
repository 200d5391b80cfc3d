import Testing
import HDF5Kit
import MPIKit
@testable import Evaluation

struct EmbeddingIndexTests {
    @Test("one process writes an index; any row range reads back exactly, with ids and header")
    func roundTrip() throws {
        let p = RetrievalProblem(videos: 13, queries: 1, clips: 32, dim: 8, seed: 4, quantised: false)
        try withTemporaryDirectory { dir in
            let path = dir + "/index.h5"
            try EmbeddingIndex.write(to: path, shard: p.shard(0..<13), videoIDs: p.videoIDs, world: LocalWorld())
            #expect(try EmbeddingIndex.readHeader(path) == EmbeddingIndex.Header(videos: 13, clipsPerVideo: 32, dim: 8))
            #expect(try EmbeddingIndex.readVideoIDs(path) == p.videoIDs)
            for range in [0..<13, 4..<9, 12..<13, 5..<5] {
                let shard = try EmbeddingIndex.read(path, videos: range)
                #expect(shard.globalIndices == Array(range))
                #expect(shard.clips.toArray() == p.shard(range).clips.toArray())
                #expect(shard.frames.toArray() == p.shard(range).frames.toArray())
            }
            #expect(throws: EvaluationError.self) { try EmbeddingIndex.read(path, videos: 10..<14) }
        }
    }

    @Test("a file that is not an index, and a shard that is not consecutive, are errors")
    func errors() throws {
        try withTemporaryDirectory { dir in
            let other = dir + "/other.h5"
            let file = try HDF5File.create(other)
            try file.createDataset("clip", values: [Float](repeating: 0, count: 4), shape: [1, 1, 4]).close()
            try file.close()
            #expect(throws: EvaluationError.self) { try EmbeddingIndex.readHeader(other) }
            let p = RetrievalProblem(videos: 3, queries: 1, clips: 32, dim: 8, seed: 4)
            let gappy = try VideoShard(clips: p.shard(0..<3).clips, frames: p.shard(0..<3).frames, globalIndices: [0, 1, 5])
            #expect(throws: EvaluationError.self) {
                try EmbeddingIndex.write(to: dir + "/x.h5", shard: gappy, videoIDs: ["a", "b", "c"], world: LocalWorld())
            }
            #expect(throws: EvaluationError.self) {
                try EmbeddingIndex.write(to: dir + "/x.h5", shard: p.shard(0..<3), videoIDs: ["a"], world: LocalWorld())
            }
        }
    }
}
