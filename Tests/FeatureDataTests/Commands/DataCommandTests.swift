import Foundation
import Testing
import TestSupport
@testable import FeatureData

/// `mamfusion synth`, `convert --verify` and `inspect` as a user runs them, including the
/// non-zero exit and the message naming the file on bad input.
@Suite(.serialized)
struct DataCommandTests {
    static let synthFlags = ["--collection", "toy", "--videos", "16", "--queries-per-video", "2", "--frames", "3..9",
                             "--dv", "12", "--dq", "8", "--tokens", "2..6", "--seed", "5"]

    @Test("synth → convert --verify → inspect, for both layouts")
    func pipeline() throws {
        try withTemporaryDirectory { dir in
            let release = try ToolRunner.run(["synth", "--out", dir, "--layout", "release"] + Self.synthFlags, timeout: 60)
            #expect(release.status == 0, "\(release.stderr)")
            let packed = try ToolRunner.run(["synth", "--out", dir + "/synth.h5", "--layout", "packed"] + Self.synthFlags, timeout: 60)
            #expect(packed.status == 0, "\(packed.stderr)")
            #expect(FileManager.default.fileExists(atPath: dir + "/toy/FeatureData/synthetic/feature.bin"))

            let convert = try ToolRunner.run(["convert", "--from", dir, "--collection", "toy", "--out", dir + "/toy.h5", "--verify"], timeout: 60)
            #expect(convert.status == 0, "\(convert.stderr)")
            #expect(convert.stdout.contains("train: 16 videos, 32 queries"))
            #expect(convert.stdout.contains("verified: every frame and token row is bit-identical"))

            let inspectRelease = try ToolRunner.run(["inspect", dir + "/toy"], timeout: 60)
            #expect(inspectRelease.status == 0, "\(inspectRelease.stdout)\(inspectRelease.stderr)")
            #expect(inspectRelease.stdout.contains("split train: 16 videos, 32 queries"))
            #expect(inspectRelease.stdout.contains("Dv 12, Dq 8"))
            #expect(inspectRelease.stdout.contains("problems: none"))
            for file in [dir + "/toy.h5", dir + "/synth.h5"] {
                let inspectPacked = try ToolRunner.run(["inspect", file, "--scan-values"], timeout: 60)
                #expect(inspectPacked.status == 0, "\(inspectPacked.stdout)\(inspectPacked.stderr)")
                #expect(inspectPacked.stdout.contains("split val: 2 videos, 4 queries"))
                #expect(inspectPacked.stdout.contains("queries per video: min 2, p10 2, median 2, mean 2.0, p90 2, max 2"))
            }
        }
    }

    @Test("bad input: non-zero exit and a message naming the file and item")
    func badInput() throws {
        try withTemporaryDirectory { dir in
            _ = try ToolRunner.run(["synth", "--out", dir] + Self.synthFlags, timeout: 60)
            let paths = CollectionPaths(root: dir, collection: "toy", visualFeature: "synthetic")
            // A caption whose query features do not exist.
            let captions = try String(contentsOfFile: paths.captionFile(split: "val"), encoding: .utf8)
            try (captions + "val_000001#enc#9 a caption without features\n").write(toFile: paths.captionFile(split: "val"), atomically: true, encoding: .utf8)

            let convert = try ToolRunner.run(["convert", "--from", dir, "--collection", "toy", "--out", dir + "/toy.h5"], timeout: 60)
            #expect(convert.status != 0)
            #expect(convert.stderr.contains(paths.queryFeatureFile) && convert.stderr.contains("caption 'val_000001#enc#9'")
                    && convert.stderr.contains("no query features"), "\(convert.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/toy.h5"), "a failed conversion leaves no file")

            let inspect = try ToolRunner.run(["inspect", dir, "--collection", "toy"], timeout: 60)
            #expect(inspect.status == 2)
            #expect(inspect.stdout.contains("val: 1 captions have no query features: 'val_000001#enc#9' (line 5)"), "\(inspect.stdout)")
            #expect(inspect.stdout.contains("query-feature datasets match no caption") == false)

            // A missing file.
            try FileManager.default.removeItem(atPath: paths.idFile)
            let missing = try ToolRunner.run(["inspect", dir + "/toy"], timeout: 60)
            #expect(missing.status != 0)
            #expect(missing.stderr.contains(paths.idFile) && missing.stderr.contains("missing file"), "\(missing.stderr)")
        }
    }
}
