import Testing
import HDF5Kit
@testable import FeatureData

/// Reading the MS-SL release layout: split index order, frame rows followed through
/// `video2frames.txt`, and the loader's model inputs against a plain recomputation.
struct ReleaseLayoutTests {
    let fixture = ReleaseFixture()
    let options = LoaderOptions(mapSize: 4, maxContextLength: 3, maxDescriptionLength: 3)

    @Test("the split index lists videos in first-appearance order of the caption file")
    func index() throws {
        try withTemporaryDirectory { root in
            try fixture.write(root: root)
            let collection = try ReleaseCollection(paths: fixture.paths(root), visualDimension: 6)
            #expect(try collection.availableSplits == ["train", "test"])
            let train = try collection.split("train").index
            #expect(train.videoIDs == ["vA", "vB", "vC"])
            #expect(train.frameCounts == [5, 3, 1])
            #expect(train.captions.map(\.capID) == ["vA#enc#0", "vB#enc#0", "vA#enc#1", "vC#enc#0"])
            #expect(train.captions.map(\.videoIndex) == [0, 1, 0, 2])
            #expect(Array(train.captions(ofVideo: 0)) == [0, 2])
            #expect(train.visualDimension == 6 && train.queryDimension == 4)
            let test = try collection.split("test").index
            #expect(test.videoIDs == ["vC", "vB"])
        }
    }

    @Test("loaded inputs equal DATA.md's preprocessing of the right rows", arguments: [HDF5ScalarType.float32, .float64])
    func loadedInputs(precision: HDF5ScalarType) throws {
        try withTemporaryDirectory { root in
            try fixture.write(root: root, queryPrecision: precision)
            let source = try FeatureDataset.open(.release(fixture.paths(root)), split: "train", visualDimension: 6, queryDimension: 4)
            let loader = try SplitLoader(source: source, options: options)
            // A shard in arbitrary order, with a repeat.
            let batch = try loader.loadBatch(videos: [2, 0, 1, 0])
            let index = loader.index
            for (i, v) in batch.videos.videos.enumerated() {
                let id = index.videoIDs[v], t = index.frameCounts[v]
                let frames = fixture.frames(of: id)
                #expect(Array(batch.videos.clipRows(i)) == ExpectedInputs.clip(frames, t: t, d: 6, mapSize: 4), "clip \(id)")
                #expect(Array(batch.videos.frameRows(i)) == ExpectedInputs.frameInput(frames, t: t, d: 6, maxContext: 3), "frames \(id)")
                #expect(batch.videos.frameLengths[i] == min(t, 3))
            }
            #expect(batch.queries.queries == [3, 0, 2, 1, 0, 2])
            #expect(batch.queryVideoPosition == [0, 1, 1, 2, 3, 3])
            for (i, q) in batch.queries.queries.enumerated() {
                let capID = index.captions[q].capID
                let n = fixture.tokenCounts[capID]!
                let tokens = fixture.tokens(capID)
                let expected: [Float]
                if precision == .float64 {
                    expected = (0..<min(n, 3)).flatMap { k in ExpectedInputs.normalise((0..<4).map { Double(tokens[k * 4 + $0]) }) }
                } else {
                    expected = ExpectedInputs.query(tokens, n: n, d: 4, maxTokens: 3)
                }
                #expect(Array(batch.queries.tokenRows(i)) == expected, "query \(capID)")
            }
            let stats = loader.statistics
            #expect(stats.loads == 2 && stats.bytesRead > 0)
        }
    }

    @Test("the prefetcher returns loads in order and rethrows their errors")
    func prefetch() throws {
        try withTemporaryDirectory { root in
            try fixture.write(root: root)
            let loader = try SplitLoader(source: try FeatureDataset.open(.release(fixture.paths(root)), split: "train"), options: options)
            let prefetcher = BatchPrefetcher<TrainingBatch>()
            prefetcher.prefetch { try loader.loadBatch(videos: [0]) }
            prefetcher.prefetch { try loader.loadBatch(videos: [1, 2]) }
            prefetcher.prefetch { try loader.loadBatch(videos: [99]) }
            #expect(prefetcher.inFlight == 3)
            #expect(try prefetcher.next().videos.videos == [0])
            #expect(try prefetcher.next().videos.videos == [1, 2])
            #expect(throws: FeatureDataError.self) { try prefetcher.next() }
            #expect(throws: FeatureDataError.self) { try prefetcher.next() }  // nothing started
        }
    }
}
