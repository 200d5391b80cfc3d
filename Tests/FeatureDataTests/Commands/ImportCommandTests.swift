import Foundation
import HDF5Kit
import Testing
import TestSupport
@testable import FeatureData

/// `mamfusion import` as a user runs it: a `synth` collection exported to per-item `.npy` files
/// and a TSV table (`NumpyExport`) and imported back gives the same collection — the same files,
/// and the same rank for every query under `eval` — in the release layout on one process and in
/// the packed layout on two ranks; every validation problem stops it with a message naming the
/// file and the id, a non-zero exit and nothing written.
@Suite(.serialized)
struct ImportCommandTests {
    static let synthFlags = ["--collection", "toy", "--videos", "16", "--queries-per-video", "2", "--frames", "3..9",
                             "--dv", "12", "--dq", "8", "--tokens", "2..6", "--seed", "5", "--eval-videos", "6"]

    /// The model and data settings `eval` runs with on the toy collection under `root`.
    static func evalSettings(root: String, extra: [String] = []) -> [String] {
        (["data_root=\(root)", "collection=toy", "visual_feature=synthetic", "hidden_size=16", "n_heads=2", "visual_feat_dim=12",
          "q_feat_size=8", "max_ctx_l=6", "max_desc_l=5", "map_size=4", "eval_context_bsz=4", "output_dir=\(root)/run"] + extra)
            .flatMap { ["--set", $0] }
    }

    /// A synth collection in `dir/orig` and its export to `dir/src` (videos/, queries/, captions.tsv).
    static func source(in dir: String) throws -> CollectionPaths {
        let synth = try ToolRunner.run(["synth", "--out", dir + "/orig"] + synthFlags, timeout: 60)
        #expect(synth.status == 0, "\(synth.stderr)")
        let paths = CollectionPaths(root: dir + "/orig", collection: "toy", visualFeature: "synthetic")
        try NumpyExport.export(paths, to: dir + "/src")
        return paths
    }

    static func importArguments(_ dir: String, out: String, layout: String = "release", captions: String? = nil) -> [String] {
        ["import", "--captions", captions ?? dir + "/src/captions.tsv", "--videos", dir + "/src/videos", "--queries", dir + "/src/queries",
         "--collection", "toy", "--visual-feature", "synthetic", "--layout", layout, "--out", out]
    }

    /// Every query's rank record of `eval --split test` (and val) with the untrained model.
    static func ranks(_ settings: [String], ranks: Int? = nil, file: String) throws -> String {
        var all = ""
        for split in ["val", "test"] {
            let out = try ToolRunner.run(["eval", "--split", split, "--ranks-out", file, "--top-k", "3"] + settings, ranks: ranks, timeout: 120)
            #expect(out.status == 0 && !out.timedOut, "\(out.stderr)")
            all += try String(contentsOfFile: file, encoding: .utf8)
        }
        return all
    }

    @Test("release layout: exported to .npy + TSV and imported back, the same files and the same rank for every query")
    func releaseRoundTrip() throws {
        try withTemporaryDirectory { dir in
            let original = try Self.source(in: dir)
            let run = try ToolRunner.run(Self.importArguments(dir, out: dir + "/new"), timeout: 60)
            #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
            #expect(run.stdout.contains("problems: none") && run.stdout.contains("split test: 6 videos, 12 queries"), "\(run.stdout)")
            let imported = CollectionPaths(root: dir + "/new", collection: "toy", visualFeature: "synthetic")
            // Frame ids follow the reference's <video_id>_<k>, as synth's do: the files are the same bytes.
            for (a, b) in [(original.featureFile, imported.featureFile), (original.idFile, imported.idFile), (original.shapeFile, imported.shapeFile),
                           (original.videoFramesFile, imported.videoFramesFile)] + ["train", "val", "test"].map({ (original.captionFile(split: $0), imported.captionFile(split: $0)) }) {
                #expect(try Data(contentsOf: URL(fileURLWithPath: a)) == Data(contentsOf: URL(fileURLWithPath: b)), "\(b) differs from \(a)")
            }
            let before = try Self.ranks(Self.evalSettings(root: dir + "/orig"), file: dir + "/ranks-orig.jsonl")
            let after = try Self.ranks(Self.evalSettings(root: dir + "/new"), file: dir + "/ranks-new.jsonl")
            #expect(before.split(separator: "\n").count == 24, "6 + 6 videos × 2 captions")
            #expect(before == after)
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/new") == ["toy"], "no staging directory left")
        }
    }

    @Test("packed layout written by 2 ranks: the same rank for every query (evaluated on 2 ranks) as the original")
    func packedOnTwoRanks() throws {
        try withTemporaryDirectory { dir in
            _ = try Self.source(in: dir)
            let file = dir + "/imported.h5"
            let run = try ToolRunner.run(Self.importArguments(dir, out: file, layout: "packed"), ranks: 2, timeout: 90)
            #expect(run.status == 0 && !run.timedOut, "\(run.stdout)\(run.stderr)")
            #expect(run.stdout.contains("on 2 ranks"), "\(run.stdout)")
            #expect(!run.stderr.contains("HDF5-DIAG"), "\(run.stderr)")
            let inspect = try ToolRunner.run(["inspect", file, "--scan-values"])
            #expect(inspect.status == 0 && inspect.stdout.contains("split train: 16 videos, 32 queries"), "\(inspect.stdout)")
            // Bit for bit what `convert` writes from the original release files, table for table.
            let converted = dir + "/converted.h5"
            #expect(try ToolRunner.run(["convert", "--from", dir + "/orig", "--collection", "toy", "--out", converted]).status == 0)
            let a = try PackedFeatureFile(path: converted), b = try PackedFeatureFile(path: file)
            #expect(a.videoIDs == b.videoIDs && a.videoOffsets == b.videoOffsets && a.capIDs == b.capIDs && a.queryOffsets == b.queryOffsets
                    && a.queryVideo == b.queryVideo && a.texts == b.texts && a.splits.map(\.name) == b.splits.map(\.name))
            #expect(try a.frames.read(as: Float.self).map(\.bitPattern) == b.frames.read(as: Float.self).map(\.bitPattern))
            let before = try Self.ranks(Self.evalSettings(root: dir + "/orig"), file: dir + "/ranks-orig.jsonl")
            let after = try Self.ranks(Self.evalSettings(root: dir, extra: ["data_layout=packed", "packed_file=\(file)"]), ranks: 2,
                                       file: dir + "/ranks-packed.jsonl")
            #expect(before == after)
        }
    }

    /// A change to the exported source that import must refuse, and what its message names.
    struct BadInput: Sendable, CustomStringConvertible {
        let description: String
        let change: @Sendable (_ dir: String) throws -> Void
        /// Substrings of the output (stdout + stderr) that must appear.
        let expected: @Sendable (_ dir: String) -> [String]
    }

    static func appendLine(_ line: String, to path: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data((line + "\n").utf8))
        try handle.close()
    }

    static let badInputs: [BadInput] = [
        BadInput(description: "duplicate caption id", change: { dir in
            try appendLine("train_000001#enc#0\ttrain_000001\tthe same id again\ttrain", to: dir + "/src/captions.tsv")
        }, expected: { dir in [dir + "/src/captions.tsv", "duplicate caption ids", "'train_000001#enc#0'"] }),
        BadInput(description: "caption whose video has no features", change: { dir in
            try appendLine("ghost#enc#0\tghost\ta video nobody has\ttrain", to: dir + "/src/captions.tsv")
            try NumpyExport.write(NumpyExport.npy(descr: "<f4", shape: [2, 8], data: NumpyExport.float32Bytes(Array(repeating: 0.5, count: 16))),
                                  to: dir + "/src/queries/ghost#enc#0.npy")
        }, expected: { dir in ["captions have no video features in \(dir)/src/videos", "'ghost#enc#0'", "video 'ghost'"] }),
        BadInput(description: "caption without query features", change: { dir in
            try FileManager.default.removeItem(atPath: dir + "/src/queries/val_000001#enc#1.npy")
        }, expected: { dir in ["captions have no query features in \(dir)/src/queries", "'val_000001#enc#1'"] }),
        BadInput(description: "video without captions", change: { dir in
            try FileManager.default.copyItem(atPath: dir + "/src/videos/train_000003.npy", toPath: dir + "/src/videos/lonely.npy")
        }, expected: { dir in ["\(dir)/src/videos: 1 videos have no caption", "'lonely'"] }),
        BadInput(description: "video id given by two files", change: { dir in
            try FileManager.default.copyItem(atPath: dir + "/src/videos/train_000003.npy", toPath: dir + "/src/videos/train_000003.npz")
        }, expected: { dir in ["video features ids are given by two files", "'train_000003' (train_000003.npy, train_000003.npz)"] }),
        BadInput(description: "array that is not 2-D", change: { dir in
            try NumpyExport.write(NumpyExport.npy(descr: "<f4", shape: [12], data: NumpyExport.float32Bytes(Array(repeating: 1, count: 12))),
                                  to: dir + "/src/videos/train_000004.npy")
        }, expected: { dir in ["\(dir)/src/videos/train_000004.npy", "video features of 'train_000004'", "shape (12): expected 2-D (frames, Dv)"] }),
        BadInput(description: "video of another dimension", change: { dir in
            try NumpyExport.write(NumpyExport.npy(descr: "<f4", shape: [3, 10], data: NumpyExport.float32Bytes(Array(repeating: 1, count: 30))),
                                  to: dir + "/src/videos/train_000005.npy")
        }, expected: { dir in ["\(dir)/src/videos: 1 videos have features of another shape than the others' Dv = 12", "'train_000005' (3×10)"] }),
        BadInput(description: "query of another dimension", change: { dir in
            try NumpyExport.write(NumpyExport.npy(descr: "<f4", shape: [2, 9], data: NumpyExport.float32Bytes(Array(repeating: 1, count: 18))),
                                  to: dir + "/src/queries/test_000002#enc#0.npy")
        }, expected: { dir in ["\(dir)/src/queries: 1 captions have features of another dimension than the others' Dq = 8", "'test_000002#enc#0' (2×9)"] }),
        BadInput(description: "integer dtype", change: { dir in
            try NumpyExport.write(NumpyExport.npy(descr: "<i4", shape: [3, 12], data: [UInt8](repeating: 0, count: 144)),
                                  to: dir + "/src/videos/train_000006.npy")
        }, expected: { dir in ["\(dir)/src/videos/train_000006.npy", "video features of 'train_000006'", "dtype '<i4' is not read"] }),
        BadInput(description: "NaN in a video", change: { dir in
            var values = Array(repeating: Float(0.25), count: 4 * 12)
            values[2 * 12 + 7] = .nan
            try NumpyExport.write(NumpyExport.npy(descr: "<f4", shape: [4, 12], data: NumpyExport.float32Bytes(values)), to: dir + "/src/videos/val_000000.npy")
        }, expected: { dir in ["\(dir)/src/videos/val_000000.npy", "video features of 'val_000000'", "nan at row 2, column 7"] }),
        BadInput(description: "infinity in a query", change: { dir in
            var values = Array(repeating: 0.5, count: 3 * 8)
            values[5] = -.infinity
            try NumpyExport.write(NumpyExport.npy(descr: "<f8", shape: [3, 8], data: NumpyExport.float64Bytes(values)), to: dir + "/src/queries/test_000001#enc#1.npy")
        }, expected: { dir in ["\(dir)/src/queries/test_000001#enc#1.npy", "query features of 'test_000001#enc#1'", "-inf at row 0, column 5"] }),
        BadInput(description: "unknown split and unusable ids", change: { dir in
            try appendLine("train_000002#enc#7\ttrain_000002\tsplit dev\tdev", to: dir + "/src/captions.tsv")
            try appendLine("x y\tv#1\tspaces and a hash\ttrain", to: dir + "/src/captions.tsv")
        }, expected: { dir in ["name a split other than train, val, test: 'train_000002#enc#7' (line 58: 'dev')",
                               "caption 'x y' (line 59): holds whitespace", "video 'v#1' (line 59): holds '#'"] }),
        BadInput(description: "malformed record", change: { dir in
            try appendLine("only\ttwo fields", to: dir + "/src/captions.tsv")
        }, expected: { dir in ["\(dir)/src/captions.tsv:58", "expected 4 fields as in the header separated by tabs, found 2"] }),
    ]

    @Test("bad input: a message naming the file and the id, a non-zero exit, nothing written", arguments: badInputs)
    func badInput(_ bad: BadInput) throws {
        try withTemporaryDirectory { dir in
            _ = try Self.source(in: dir)
            try bad.change(dir)
            for (layout, out) in [("release", dir + "/new"), ("packed", dir + "/new.h5")] {
                let run = try ToolRunner.run(Self.importArguments(dir, out: out, layout: layout), timeout: 60)
                let text = run.stdout + run.stderr
                #expect(run.status != 0, "\(bad) (\(layout)): \(text)")
                for expected in bad.expected(dir) { #expect(text.contains(expected), "\(bad) (\(layout)): no \(expected) in\n\(text)") }
                let left = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
                #expect(left.sorted() == ["orig", "src"], "\(bad) (\(layout)): left \(left)")
            }
        }
    }

    @Test("packed on 2 ranks: a NaN in rank 1's share stops every rank, names the file and the id, leaves nothing")
    func packedProblemOnOneRank() throws {
        try withTemporaryDirectory { dir in
            _ = try Self.source(in: dir)
            // test_000005 is the last video in output order: in rank 1's block.
            var values = Array(repeating: Float(0.5), count: 2 * 12)
            values[13] = .nan
            try NumpyExport.write(NumpyExport.npy(descr: "<f4", shape: [2, 12], data: NumpyExport.float32Bytes(values)), to: dir + "/src/videos/test_000005.npy")
            let run = try ToolRunner.run(Self.importArguments(dir, out: dir + "/new.h5", layout: "packed"), ranks: 2, timeout: 90)
            #expect(run.status != 0 && !run.timedOut)
            #expect(run.stdout.contains("\(dir)/src/videos/test_000005.npy: video features of 'test_000005': nan at row 1, column 1"), "\(run.stdout)\(run.stderr)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["orig", "src"])
        }
    }

    @Test("--dry-run validates everything and lists what it would write, writing nothing")
    func dryRun() throws {
        try withTemporaryDirectory { dir in
            _ = try Self.source(in: dir)
            let run = try ToolRunner.run(Self.importArguments(dir, out: dir + "/new") + ["--dry-run"], timeout: 60)
            #expect(run.status == 0, "\(run.stderr)")
            #expect(run.stdout.contains("dry run: nothing written") && run.stdout.contains("\(dir)/new/toy/FeatureData/synthetic/feature.bin: "), "\(run.stdout)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/new"))
            // Values are checked too.
            var values = Array(repeating: Float(1), count: 3 * 12)
            values[0] = .infinity
            try NumpyExport.write(NumpyExport.npy(descr: "<f4", shape: [3, 12], data: NumpyExport.float32Bytes(values)), to: dir + "/src/videos/train_000000.npy")
            let bad = try ToolRunner.run(Self.importArguments(dir, out: dir + "/new") + ["--dry-run"], timeout: 60)
            #expect(bad.status == 2 && bad.stdout.contains("inf at row 0, column 0"), "\(bad.stdout)")
        }
    }

    @Test("an existing collection is never overwritten")
    func existingCollection() throws {
        try withTemporaryDirectory { dir in
            _ = try Self.source(in: dir)
            let run = try ToolRunner.run(Self.importArguments(dir, out: dir + "/orig"), timeout: 60)
            #expect(run.status != 0 && run.stderr.contains("\(dir)/orig/toy: already exists"), "\(run.stderr)")
        }
    }

    @Test("CSV and JSON Lines tables, HDF5 arrays, float64 and Fortran-order .npy give the same collection as TSV and float32 .npy")
    func otherFormats() throws {
        try withTemporaryDirectory { dir in
            let original = try Self.source(in: dir)
            let rows = try String(contentsOfFile: dir + "/src/captions.tsv", encoding: .utf8).split(separator: "\n").dropFirst()
                .map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
            // CSV with quoting, columns in another order; JSON Lines without the split of train captions.
            var csv = "split,text,video_id,caption_id\n"
            var jsonl = ""
            for r in rows {
                csv += "\(r[3]),\"\(r[2].replacingOccurrences(of: "\"", with: "\"\""))\",\(r[1]),\(r[0])\n"
                let split = r[3] == "train" ? "" : ", \"split\": \"\(r[3])\""
                jsonl += "{\"caption_id\": \"\(r[0])\", \"video_id\": \"\(r[1])\", \"text\": \"\(r[2])\"\(split)}\n"
            }
            try csv.write(toFile: dir + "/src/captions.csv", atomically: true, encoding: .utf8)
            try jsonl.write(toFile: dir + "/src/captions.jsonl", atomically: true, encoding: .utf8)
            // Videos in one HDF5 file; queries straight from the release's query file.
            let collection = try ReleaseCollection(paths: original)
            let videoFile = try HDF5File.create(dir + "/src/videos.h5")
            for video in collection.videoFrameLists {
                var values = [Float](repeating: 0, count: video.rows.count * 12)
                try values.withUnsafeMutableBufferPointer { b in try video.rows.withUnsafeBufferPointer { _ = try collection.features.readRows($0, into: b.baseAddress!) } }
                try videoFile.createDataset(video.videoID, values: values, shape: [video.rows.count, 12])
            }
            try videoFile.close()
            // Two .npy files stored differently with the same values: float64 (exactly the float32 values) and Fortran order.
            let first = dir + "/src/videos/train_000000.npy", second = dir + "/src/videos/train_000001.npy"
            for (path, video) in [(first, "train_000000"), (second, "train_000001")] {
                let rowsOf = try #require(collection.video(video)).rows
                var values = [Float](repeating: 0, count: rowsOf.count * 12)
                try values.withUnsafeMutableBufferPointer { b in try rowsOf.withUnsafeBufferPointer { _ = try collection.features.readRows($0, into: b.baseAddress!) } }
                if path == first {
                    try NumpyExport.write(NumpyExport.npy(descr: "<f8", shape: [rowsOf.count, 12], data: NumpyExport.float64Bytes(values.map(Double.init))), to: path)
                } else {
                    let columnMajor = (0..<(rowsOf.count * 12)).map { values[($0 % rowsOf.count) * 12 + $0 / rowsOf.count] }
                    try NumpyExport.write(NumpyExport.npy(descr: "<f4", shape: [rowsOf.count, 12], fortran: true, data: NumpyExport.float32Bytes(columnMajor)), to: path)
                }
            }
            let variants: [(String, [String])] = [
                ("csv", Self.importArguments(dir, out: dir + "/csv", captions: dir + "/src/captions.csv")),
                ("jsonl", Self.importArguments(dir, out: dir + "/jsonl", captions: dir + "/src/captions.jsonl")),
                ("hdf5", ["import", "--captions", dir + "/src/captions.tsv", "--videos", dir + "/src/videos.h5", "--queries", original.queryFeatureFile,
                          "--collection", "toy", "--visual-feature", "synthetic", "--out", dir + "/hdf5"]),
            ]
            for (name, arguments) in variants {
                let run = try ToolRunner.run(arguments, timeout: 60)
                #expect(run.status == 0, "\(name): \(run.stdout)\(run.stderr)")
                let imported = CollectionPaths(root: dir + "/" + name, collection: "toy", visualFeature: "synthetic")
                for (a, b) in [(original.featureFile, imported.featureFile), (original.videoFramesFile, imported.videoFramesFile)]
                    + ["train", "val", "test"].map({ (original.captionFile(split: $0), imported.captionFile(split: $0)) }) {
                    #expect(try Data(contentsOf: URL(fileURLWithPath: a)) == Data(contentsOf: URL(fileURLWithPath: b)), "\(name): \(b) differs")
                }
            }
            let csvRun = try ToolRunner.run(Self.importArguments(dir, out: dir + "/csv2", captions: dir + "/src/captions.csv"), timeout: 60)
            #expect(csvRun.stdout.contains("1 videos are stored as float64: rounded to float32"), "\(csvRun.stdout)")
        }
    }

    @Test(".npz archives, stored and deflated (written by numpy), read like .npy",
          .enabled(if: PythonRunner.has("numpy"), "needs Python with numpy (MAMFUSION_PYTHON or python3)"))
    func npzArchives() throws {
        try withTemporaryDirectory { dir in
            let original = try Self.source(in: dir)
            let convert = try PythonRunner.run(["-c", """
                import glob, os, sys
                import numpy as np
                for i, path in enumerate(sorted(glob.glob(sys.argv[1] + "/videos/*.npy"))):
                    array = np.load(path)
                    target = path[:-4] + ".npz"
                    if i % 2: np.savez(target, features=array, extra=np.zeros(3))
                    else: np.savez_compressed(target, features=array)
                    os.remove(path)
                """, dir + "/src"])
            #expect(convert.status == 0, "\(convert.stderr)")
            let ambiguous = try ToolRunner.run(Self.importArguments(dir, out: dir + "/npz"), timeout: 60)
            #expect(ambiguous.status != 0 && (ambiguous.stdout + ambiguous.stderr).contains("holds 2 arrays ('features', 'extra'): choose one with --npz-key"),
                    "\(ambiguous.stdout)\(ambiguous.stderr)")
            let run = try ToolRunner.run(Self.importArguments(dir, out: dir + "/npz") + ["--npz-key", "features"], timeout: 60)
            #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
            let imported = CollectionPaths(root: dir + "/npz", collection: "toy", visualFeature: "synthetic")
            #expect(try Data(contentsOf: URL(fileURLWithPath: original.featureFile)) == Data(contentsOf: URL(fileURLWithPath: imported.featureFile)))
        }
    }
}
