import Foundation
import HDF5Kit
import Testing
import TestSupport
@testable import FeatureData

/// `mamfusion import --layout clip-tokens`: MUSE's CLIP token file from per-video token arrays,
/// per-caption embeddings and a padding frame — what `Tools/extract-clip-tokens` produces.
/// A `synth --layout clip-tokens` file exported to `.npy` (float16) and a TSV table comes back
/// with every dataset bit for bit.
@Suite(.serialized)
struct ImportCLIPTokensTests {
    static func halfBytes(_ values: [Float]) -> [UInt8] {
        values.flatMap { v -> [UInt8] in let b = Float16(v).bitPattern; return [UInt8(b & 0xFF), UInt8(b >> 8)] }
    }

    /// A synthetic token file at `dir/orig.h5` and its export to `dir/src` (videos/, queries/,
    /// padding.npy, captions.tsv with each caption's split).
    static func source(in dir: String) throws {
        let synth = try ToolRunner.run(["synth", "--layout", "clip-tokens", "--out", dir + "/orig.h5", "--collection", "mt", "--videos", "12",
                                        "--width", "16", "--grid", "2", "--max-frames", "6", "--frames", "2..6", "--queries-per-video", "3",
                                        "--eval-queries-per-video", "1"], timeout: 60)
        #expect(synth.status == 0, "\(synth.stderr)")
        let file = try HDF5File.open(dir + "/orig.h5")
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir + "/src/videos", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: dir + "/src/queries", withIntermediateDirectories: true)
        let tokens = try file.openDataset(CLIPTokenFormat.tokens)
        let (n, w) = (tokens.shape[1], tokens.shape[2])
        let offsets = try file.readDataset(CLIPTokenFormat.videoOffsets, as: Int64.self).map(Int.init)
        let videoIDs = try file.readStrings(CLIPTokenFormat.videoIDs)
        for (v, id) in videoIDs.enumerated() {
            let values = try tokens.readRows(offsets[v]..<offsets[v + 1], as: Float.self)
            try NumpyExport.write(NumpyExport.npy(descr: "<f2", shape: [offsets[v + 1] - offsets[v], n, w], data: halfBytes(values)), to: "\(dir)/src/videos/\(id).npy")
        }
        let padding = try file.readDataset(CLIPTokenFormat.paddingFrame, as: Float.self)
        try NumpyExport.write(NumpyExport.npy(descr: "<f2", shape: [n, w], data: halfBytes(padding)), to: dir + "/src/padding.npy")
        let captionIDs = try file.readStrings(CLIPTokenFormat.captionIDs), texts = try file.readStrings(CLIPTokenFormat.captionText)
        let captionVideo = try file.readDataset(CLIPTokenFormat.captionVideo, as: Int64.self).map(Int.init)
        let embeddings = try file.openDataset(CLIPTokenFormat.captionEmbeddings)
        var table = "caption_id\tvideo_id\ttext\tsplit\n"
        for split in try file.stringAttribute("splits").split(separator: ",").map(String.init) {
            for c in try file.readDataset("splits/\(split)", as: Int64.self).map(Int.init) {
                let embedding = try embeddings.readRows(c..<c + 1, as: Float.self)
                try NumpyExport.write(NumpyExport.npy(descr: "<f2", shape: [w], data: halfBytes(embedding)), to: "\(dir)/src/queries/\(captionIDs[c]).npy")
                table += "\(captionIDs[c])\t\(videoIDs[captionVideo[c]])\t\(texts[c])\t\(split)\n"
            }
        }
        try table.write(toFile: dir + "/src/captions.tsv", atomically: true, encoding: .utf8)
    }

    static func arguments(_ dir: String, out: String) -> [String] {
        ["import", "--layout", "clip-tokens", "--captions", dir + "/src/captions.tsv", "--videos", dir + "/src/videos", "--queries", dir + "/src/queries",
         "--padding-frame", dir + "/src/padding.npy", "--max-frames", "6", "--collection", "mt", "--out", out]
    }

    @Test("exported to float16 .npy + TSV and imported back: every dataset bit for bit; inspect reads it")
    func roundTrip() throws {
        try withTemporaryDirectory { dir in
            try Self.source(in: dir)
            let run = try ToolRunner.run(Self.arguments(dir, out: dir + "/new.h5"), timeout: 60)
            #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
            let a = try HDF5File.open(dir + "/orig.h5"), b = try HDF5File.open(dir + "/new.h5")
            for name in [CLIPTokenFormat.tokens, CLIPTokenFormat.paddingFrame, CLIPTokenFormat.captionEmbeddings] {
                let x = try a.readDataset(name, as: Float.self), y = try b.readDataset(name, as: Float.self)
                #expect(x.map(\.bitPattern) == y.map(\.bitPattern), "\(name)")
                #expect(try b.openDataset(name).elementType.size == 2, "\(name) stored as float16")
            }
            for name in [CLIPTokenFormat.videoOffsets, CLIPTokenFormat.captionVideo, "splits/train", "splits/val", "splits/test"] {
                #expect(try a.readDataset(name, as: Int64.self) == b.readDataset(name, as: Int64.self), "\(name)")
            }
            for name in [CLIPTokenFormat.videoIDs, CLIPTokenFormat.captionIDs, CLIPTokenFormat.captionText] {
                #expect(try a.readStrings(name) == b.readStrings(name), "\(name)")
            }
            for attribute in ["width", "grid", "max_frames"] { #expect(try a.int64Attribute(attribute) == b.int64Attribute(attribute)) }
            let inspect = try ToolRunner.run(["inspect", dir + "/new.h5", "--scan-values"])
            #expect(inspect.status == 0, "\(inspect.stdout)\(inspect.stderr)")
        }
    }

    @Test("bad token arrays: not 1 + G² tokens, more frames than --max-frames, another width, a NaN; a missing padding frame")
    func badInput() throws {
        try withTemporaryDirectory { dir in
            try Self.source(in: dir)
            func write(_ shape: [Int], _ name: String, nan: Bool = false) throws {
                var values = [Float](repeating: 0.5, count: shape.reduce(1, *))
                if nan { values[values.count - 1] = .nan }
                try NumpyExport.write(NumpyExport.npy(descr: "<f2", shape: shape, data: Self.halfBytes(values)), to: "\(dir)/src/\(name).npy")
            }
            let videos = try FileManager.default.contentsOfDirectory(atPath: dir + "/src/videos").sorted().map { String($0.dropLast(4)) }
            try write([2, 4, 16], "videos/" + videos[0])
            try write([7, 5, 16], "videos/" + videos[1])
            try write([2, 5, 8], "videos/" + videos[2])
            try write([2, 5, 16], "videos/" + videos[3], nan: true)
            let run = try ToolRunner.run(Self.arguments(dir, out: dir + "/new.h5"), timeout: 60)
            let text = run.stdout + run.stderr
            #expect(run.status != 0)
            #expect(text.contains("\(dir)/src/videos/\(videos[0]).npy: video features of '\(videos[0])': shape (2, 4, 16): 4 tokens per frame is not 1 + G²"), "\(text)")
            #expect(text.contains("video features of '\(videos[1])': shape (7, 5, 16): frames = 7: larger than the maximum of 6 (--max-frames)"), "\(text)")
            #expect(text.contains("videos have tokens of another shape than the others' [T, 5, 16]: '\(videos[2])' (2×5×8)"), "\(text)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/new.h5"))
            // The NaN is found while copying, once the shapes are right.
            for v in videos[0..<3] { try FileManager.default.removeItem(atPath: "\(dir)/src/videos/\(v).npy") }
            try FileManager.default.copyItem(atPath: "\(dir)/src/videos/\(videos[4]).npy", toPath: "\(dir)/src/videos/\(videos[0]).npy")
            try FileManager.default.copyItem(atPath: "\(dir)/src/videos/\(videos[4]).npy", toPath: "\(dir)/src/videos/\(videos[1]).npy")
            try FileManager.default.copyItem(atPath: "\(dir)/src/videos/\(videos[4]).npy", toPath: "\(dir)/src/videos/\(videos[2]).npy")
            let nan = try ToolRunner.run(Self.arguments(dir, out: dir + "/new.h5"), timeout: 60)
            #expect(nan.status == 2 && nan.stdout.contains("video features of '\(videos[3])': nan at frame 1, token 4, column 15"), "\(nan.stdout)\(nan.stderr)")
            let noPadding = try ToolRunner.run(Array(Self.arguments(dir, out: dir + "/new.h5").filter { !$0.hasSuffix("padding.npy") && $0 != "--padding-frame" }))
            #expect(noPadding.status != 0 && noPadding.stderr.contains("--layout clip-tokens needs --padding-frame"), "\(noPadding.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/new.h5"))
        }
    }
}
