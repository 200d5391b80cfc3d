import Testing
import HDF5Kit
@testable import FeatureData

/// Release → packed conversion: lossless, verified, and read back to the same model inputs.
struct PackedLayoutTests {
    let fixture = ReleaseFixture()
    let options = LoaderOptions(mapSize: 4, maxContextLength: 3, maxDescriptionLength: 3)

    /// Loads every video of `split` with its captions.
    static func everything(_ source: any FeatureSource, _ options: LoaderOptions) throws -> TrainingBatch {
        try SplitLoader(source: source, options: options).loadBatch(videos: Array(0..<source.index.videoCount))
    }

    /// nil when equal, else where the first difference is (short, unlike a dump of both arrays).
    static func firstDifference(_ a: UnsafeMutableBufferPointer<Float>, _ b: UnsafeMutableBufferPointer<Float>) -> String? {
        guard a.count == b.count else { return "\(a.count) vs \(b.count) values" }
        guard let i = a.indices.first(where: { a[$0].bitPattern != b[$0].bitPattern }) else { return nil }
        return "element \(i): \(a[i]) vs \(b[i])"
    }

    static func expectSameInputs(_ a: TrainingBatch, _ b: TrainingBatch, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(firstDifference(a.videos.clip.buffer, b.videos.clip.buffer) == nil, "clip inputs", sourceLocation: sourceLocation)
        #expect(firstDifference(a.videos.frames.buffer, b.videos.frames.buffer) == nil, "frame inputs", sourceLocation: sourceLocation)
        #expect(a.videos.frameLengths == b.videos.frameLengths)
        #expect(firstDifference(a.queries.tokens.buffer, b.queries.tokens.buffer) == nil, "query inputs", sourceLocation: sourceLocation)
        #expect(a.queries.tokenLengths == b.queries.tokenLengths)
        #expect(a.queryVideoPosition == b.queryVideoPosition)
    }

    @Test("convert is lossless and verifiable; both layouts give identical inputs (contiguous or chunked storage)",
          arguments: [(HDF5ScalarType.float32, false, false), (.float64, false, true), (.float32, true, false)])
    func convertAndVerify(precision: HDF5ScalarType, mixed: Bool, chunked: Bool) throws {
        try withTemporaryDirectory { root in
            var fixture = self.fixture
            if mixed { fixture.float64Captions = ["vB#enc#0", "vC#enc#1"] }
            try fixture.write(root: root, queryPrecision: precision)
            let paths = fixture.paths(root)
            let packed = root + "/tvr.h5"
            var ticks = 0
            let summary = try ReleaseConverter.convert(paths, to: packed, chunked: chunked) { done, total in
                ticks += 1
                #expect(done <= total)
            }
            #expect(ticks > 0)
            #expect(summary.videos == 3)  // vOrphan is in no caption file
            #expect(summary.splits.map(\.name) == ["train", "test"])
            #expect(summary.frames == 9)
            #expect(try ReleaseConverter.verify(paths, packed: packed) == summary.bytes)

            let file = try PackedFeatureFile(path: packed)
            #expect(file.videoIDs == ["vA", "vB", "vC"])
            #expect(file.queryIsDouble == (precision == .float64 || mixed))
            #expect(file.storedBits.filter { $0 == 64 }.count == (precision == .float64 ? 6 : mixed ? 2 : 0))
            // Frames are the release rows, bit for bit, in temporal order.
            let rows = try file.frames.readRows(file.frameRows(ofVideo: 0), as: Float.self)
            #expect(rows.map(\.bitPattern) == fixture.frames(of: "vA").map(\.bitPattern))
            for split in ["train", "test"] {
                let release = try FeatureDataset.open(.release(paths), split: split)
                let fromPacked = try FeatureDataset.open(.packed(packed), split: split)
                #expect(fromPacked.index.videoIDs == release.index.videoIDs)
                #expect(fromPacked.index.captions == release.index.captions)
                Self.expectSameInputs(try Self.everything(release, options), try Self.everything(fromPacked, options))
            }
        }
    }

    @Test("verify finds a changed frame and names the video")
    func verifyDetectsDamage() throws {
        try withTemporaryDirectory { root in
            try fixture.write(root: root)
            let packed = root + "/tvr.h5"
            try ReleaseConverter.convert(fixture.paths(root), to: packed)
            let file = try HDF5File.open(packed, mode: .readWrite)
            let frames = try file.openDataset("frames")
            var row = try frames.readRows(6..<7, as: Float.self)
            row[1] = row[1].nextUp
            try frames.writeRows(6..<7, row)
            try frames.close()
            try file.close()
            #expect { try ReleaseConverter.verify(fixture.paths(root), packed: packed) } throws: { error in
                let e = error as! FeatureDataError
                return e.file == packed && e.item == "video 'vB'" && e.problem.contains("frame 1, column 1")
            }
        }
    }

    @Test("an unknown split is an error listing the splits there are")
    func unknownSplit() throws {
        try withTemporaryDirectory { root in
            try fixture.write(root: root)
            try ReleaseConverter.convert(fixture.paths(root), to: root + "/p.h5")
            #expect { try FeatureDataset.open(.packed(root + "/p.h5"), split: "val") } throws: { error in
                (error as! FeatureDataError).problem.contains("the file holds: train, test")
            }
        }
    }
}
