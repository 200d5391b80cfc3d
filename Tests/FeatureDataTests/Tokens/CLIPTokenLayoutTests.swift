import Foundation
import HDF5Kit
import TensorKit
import Testing
@testable import FeatureData

/// The CLIP token layout: what the writer stores is what the reader returns (float16 rounded to
/// nearest even, float32 exact), videos completed with the padding frame, pairs sharing a video,
/// HDF5's own idea of the half type agreeing with ours, and bad files refused by name.
struct CLIPTokenLayoutTests {
    static let width = 6, grid = 2, maxFrames = 4
    static var n: Int { CLIPTokenFormat.tokensPerFrame(grid: grid) }

    /// Values with fractional bits a half cannot hold, so rounding is exercised.
    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var g = SplitMix64(state: seed)
        return (0..<count).map { _ in g.float() * 3 + 1e-4 }
    }

    /// Three videos (2, 4 and 1 frames), five captions, splits train (4 pairs; video 0 twice)
    /// and test (2 pairs).
    static func write(_ path: String, half: Bool, poison: (video: Int, at: Int)? = nil) throws -> (tokens: [[Float]], embeddings: [[Float]], padding: [Float]) {
        let frames = [2, 4, 1]
        let tokens = frames.enumerated().map { values($1 * n * width, seed: UInt64($0 + 1)) }
        let embeddings = (0..<5).map { values(width, seed: UInt64(100 + $0)) }
        let padding = values(n * width, seed: 77)
        var stored = tokens
        if let poison { stored[poison.video][poison.at] = .nan }
        try HDF5File.writeAtomically(to: path) { file in
            let writer = try CLIPTokenWriter(file: file, header: CLIPTokenHeader(collection: "toy", source: "test", width: width, grid: grid,
                                                                              maxFrames: maxFrames, totalFrames: 7, captionCount: 5, half: half))
            try padding.withUnsafeBufferPointer { try writer.setPaddingFrame($0) }
            for (v, t) in stored.enumerated() { _ = try t.withUnsafeBufferPointer { try writer.appendVideo(id: "v\(v)", tokens: $0) } }
            for (c, video) in [0, 0, 1, 2, 1].enumerated() {
                _ = try embeddings[c].withUnsafeBufferPointer { try writer.appendCaption(id: "v\(video)#\(c)", video: video, text: "caption \(c)", embedding: $0) }
            }
            try writer.finish(splits: [("train", [0, 2, 1, 3]), ("test", [4, 3])])
        }
        return (tokens, embeddings, padding)
    }

    static func rounded(_ x: [Float], half: Bool) -> [Float] { half ? x.map { Float(Float16($0)) } : x }

    @Test("round trip in float16 and float32: real frames, then padding frames; captions; splits", arguments: [true, false])
    func roundTrip(half: Bool) throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/t.h5"
            let written = try Self.write(path, half: half)
            let c = try CLIPTokenCollection(path: path)
            #expect(c.width == Self.width && c.grid == Self.grid && c.maxFrames == Self.maxFrames && c.storesHalf == half)
            #expect(c.videoIDs == ["v0", "v1", "v2"] && c.videoOffsets == [0, 2, 6, 7])
            #expect(c.splits.map(\.name) == ["train", "test"])
            let train = try c.split("train")
            #expect(train.videos == [0, 1, 2] && train.pairVideo == [0, 1, 0, 2], "pairs 0 and 2 share video 0")
            let frameFloats = Self.n * Self.width
            // Video positions with a repeat, read in one call.
            let positions = [2, 0, 2, 1]
            let out = FloatStorage(count: positions.count * c.videoFloats)
            let bytes = try train.readVideos(positions, into: out.base)
            #expect(bytes == (1 + 2 + 4) * frameFloats * (half ? 2 : 4), "a repeated video is read once")
            for (i, p) in positions.enumerated() {
                let v = train.videos[p]
                let real = Self.rounded(written.tokens[v], half: half)
                let block = Array(UnsafeBufferPointer(start: out.base + i * c.videoFloats, count: c.videoFloats))
                #expect(Array(block[0..<real.count]) == real, "video \(v): real frames")
                let padding = Self.rounded(written.padding, half: half)
                for f in c.frameCount(ofVideo: v)..<Self.maxFrames {
                    #expect(Array(block[(f * frameFloats)..<((f + 1) * frameFloats)]) == padding, "video \(v) frame \(f) is the padding frame")
                }
            }
            let captions = FloatStorage(count: 4 * Self.width)
            _ = try train.readCaptions([3, 0, 2, 1], into: captions.base)
            for (i, pair) in [3, 0, 2, 1].enumerated() {
                #expect(Array(UnsafeBufferPointer(start: captions.base + i * Self.width, count: Self.width))
                        == Self.rounded(written.embeddings[train.pairCaptions[pair]], half: half))
            }
            #expect(train.captionID(ofPair: 3) == "v2#3" && train.captionText(ofPair: 1) == "caption 2")
        }
    }

    @Test("HDF5's own conversion of our float16 datasets gives the values our widening gives")
    func halfTypeIsIEEE() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/t.h5"
            _ = try Self.write(path, half: true)
            let file = try HDF5File.open(path)
            let dataset = try file.openDataset(CLIPTokenFormat.tokens)
            #expect(dataset.elementType == HDF5ElementType(kind: .float, size: 2))
            let byHDF5 = try dataset.read(as: Float.self)
            let raw = try dataset.read(as: Float16.self)
            var ours = [Float](repeating: 0, count: raw.count)
            raw.withUnsafeBufferPointer { r in ours.withUnsafeMutableBufferPointer { HalfPrecision.widen(r.baseAddress!, into: $0.baseAddress!, count: raw.count) } }
            #expect(byHDF5 == ours)
            #expect(ours == raw.map { Float($0) })
        }
    }

    @Test("the F16C kernels round to nearest even and widen exactly, tails included")
    func halfKernels() {
        let x: [Float] = [0, -0.0, 1, 1 + 0x1p-11, 1 + 0x1p-10 + 0x1p-11, 65504, 65520, 1e-8, -3.14159, .infinity, 2.5e-5]
        var h = [Float16](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { xs in h.withUnsafeMutableBufferPointer { HalfPrecision.narrow(xs.baseAddress!, into: $0.baseAddress!, count: x.count) } }
        #expect(h.map(\.bitPattern) == x.map { Float16($0).bitPattern }, "Swift's Float16(Float) rounds to nearest even")
        var back = [Float](repeating: 0, count: x.count)
        h.withUnsafeBufferPointer { hs in back.withUnsafeMutableBufferPointer { HalfPrecision.widen(hs.baseAddress!, into: $0.baseAddress!, count: x.count) } }
        #expect(back == h.map { Float($0) })
    }

    @Test("a non-finite token or embedding is an error naming the file, the video and the frame")
    func nonFinite() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/t.h5"
            _ = try Self.write(path, half: true, poison: (video: 1, at: 2 * Self.n * Self.width + Self.width + 3))
            let train = try CLIPTokenCollection(path: path).split("train")
            let out = FloatStorage(count: 2 * train.collection.videoFloats)
            #expect(throws: FeatureDataError(file: path, item: "video 'v1' frame 2 token 1", "non-finite value nan in /videos/tokens")) {
                try train.readVideos([0, 1], into: out.base)
            }
            _ = try train.readVideos([0, 2], into: out.base)
        }
    }

    @Test("bad files are refused with the file and the item named")
    func badFiles() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/t.h5"
            _ = try Self.write(path, half: true)
            func mutate(_ change: (HDF5File) throws -> Void) throws {
                try FileManager.default.removeItem(atPath: dir + "/m.h5")
                try FileManager.default.copyItem(atPath: path, toPath: dir + "/m.h5")
                let file = try HDF5File.open(dir + "/m.h5", mode: .readWrite)
                try change(file)
                try file.close()
            }
            try FileManager.default.copyItem(atPath: path, toPath: dir + "/m.h5")
            let cases: [(String, (HDF5File) throws -> Void, String)] = [
                ("format", { try $0.setAttribute("format", .string("mamfusion-packed-features")) }, "not a CLIP token file"),
                ("version", { try $0.setAttribute("format_version", .int64(2)) }, "CLIP token format version 2"),
                ("grid", { try $0.setAttribute("grid", .int64(3)) }, "shape [7, 5, 6]; expected [any, 10, 6]"),
                ("frames", { try $0.setAttribute("max_frames", .int64(3)) }, "video 'v1': 4 frames; the file's max_frames is 3"),
                ("video index", { try $0.openDataset(CLIPTokenFormat.captionVideo).write([Int64(0), 0, 1, 3, 1]) }, "caption 'v2#3': video index 3 outside 0..<3"),
                ("offsets", { try $0.openDataset(CLIPTokenFormat.videoOffsets).write([Int64(0), 2, 2, 7]) }, "item 1 has 0 rows"),
                ("split", { try $0.openDataset("splits/test").write([Int64(4), 9]) }, "split 'test': pair 1 names caption index 9 outside 0..<5"),
            ]
            for (name, change, message) in cases {
                try mutate(change)
                do {
                    _ = try CLIPTokenCollection(path: dir + "/m.h5")
                    Issue.record("\(name): accepted")
                } catch let error as FeatureDataError {
                    #expect(error.file == dir + "/m.h5" && error.description.contains(message), "\(name): \(error)")
                }
            }
            #expect(throws: FeatureDataError.self) { try CLIPTokenCollection(path: dir + "/missing.h5") }
        }
    }

    @Test("synth: same seed ⇒ same content; the planted relation is there for a learned map and absent for the identity")
    func synthetic() throws {
        try withTemporaryDirectory { dir in
            var r = SyntheticTokenRecipe()
            r.trainVideos = 48
            r.evaluationVideos = 24
            r.width = 16
            r.grid = 2
            r.frames = 2...4
            r.maxFrames = 4
            for (name, seed) in [("a", 7), ("b", 7), ("c", 8)] {
                r.seed = UInt64(seed)
                try SyntheticTokenGenerator(recipe: r).write(path: "\(dir)/\(name).h5")
            }
            #expect(try HDF5Digest.of(dir + "/a.h5") == HDF5Digest.of(dir + "/b.h5"))
            #expect(try HDF5Digest.of(dir + "/a.h5") != HDF5Digest.of(dir + "/c.h5"))

            // Mean [CLS] token of each video against its captions: a ridge-regression map fitted
            // on train retrieves test videos far above chance; the identity (an untrained head's
            // residual path) does not.
            let c = try CLIPTokenCollection(path: dir + "/a.h5")
            func features(_ split: CLIPTokenSplit) throws -> (video: [[Double]], text: [[Double]], videoOfPair: [Int]) {
                let w = c.width, frameFloats = c.tokensPerFrame * w
                let out = FloatStorage(count: split.videoCount * c.videoFloats)
                _ = try split.readVideos(Array(0..<split.videoCount), into: out.base)
                let video = (0..<split.videoCount).map { v -> [Double] in
                    let t = split.frameCount(ofVideo: v)
                    return (0..<w).map { j in (0..<t).reduce(0.0) { $0 + Double(out.base[v * c.videoFloats + $1 * frameFloats + j]) } / Double(t) }
                }
                let text = FloatStorage(count: split.pairCount * w)
                _ = try split.readCaptions(Array(0..<split.pairCount), into: text.base)
                return (video, (0..<split.pairCount).map { p in (0..<w).map { Double(text.base[p * w + $0]) } }, split.pairVideo)
            }
            let train = try features(c.split("train")), test = try features(c.split("test"))
            let map = ridge(inputs: train.videoOfPair.map { train.video[$0] }, targets: train.text, lambda: 1)
            let mapped = test.video.map { v in (0..<c.width).map { j in (0..<c.width).reduce(0.0) { $0 + v[$1] * map[$1][j] } } }
            let learned = recallAt1(texts: test.text, videos: mapped, truth: test.videoOfPair)
            let identity = recallAt1(texts: test.text, videos: test.video, truth: test.videoOfPair)
            #expect(learned >= 0.5, "a learned linear map finds \(learned) of the test videos at rank 1")
            #expect(identity <= 0.25, "the raw tokens find \(identity) (chance is 1/24)")
        }
    }

    /// argmin_M Σ ‖x M − y‖² + λ‖M‖² by the normal equations (Gauss–Jordan), M is in × out.
    func ridge(inputs x: [[Double]], targets y: [[Double]], lambda: Double) -> [[Double]] {
        let d = x[0].count, o = y[0].count
        var a = (0..<d).map { i in (0..<d).map { j in x.reduce(0.0) { $0 + $1[i] * $1[j] } + (i == j ? lambda : 0) } }
        var b = (0..<d).map { i in (0..<o).map { j in zip(x, y).reduce(0.0) { $0 + $1.0[i] * $1.1[j] } } }
        for col in 0..<d {
            let pivot = (col..<d).max { abs(a[$0][col]) < abs(a[$1][col]) }!
            a.swapAt(col, pivot)
            b.swapAt(col, pivot)
            let p = a[col][col]
            for j in 0..<d { a[col][j] /= p }
            for j in 0..<o { b[col][j] /= p }
            for row in 0..<d where row != col {
                let f = a[row][col]
                for j in 0..<d { a[row][j] -= f * a[col][j] }
                for j in 0..<o { b[row][j] -= f * b[col][j] }
            }
        }
        return b
    }

    /// Fraction of texts whose own video has the highest cosine similarity.
    func recallAt1(texts: [[Double]], videos: [[Double]], truth: [Int]) -> Double {
        func cosine(_ a: [Double], _ b: [Double]) -> Double {
            zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } / (zip(a, a).reduce(0) { $0 + $1.0 * $1.1 } * zip(b, b).reduce(0) { $0 + $1.0 * $1.1 }).squareRoot()
        }
        let hits = texts.enumerated().filter { q, t in
            let scores = videos.map { cosine(t, $0) }
            return scores.indices.max { scores[$0] < scores[$1] } == truth[q]
        }.count
        return Double(hits) / Double(texts.count)
    }
}
