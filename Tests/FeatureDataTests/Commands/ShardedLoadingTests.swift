import Foundation
import Testing
import TestSupport
@testable import FeatureData

/// Sharded loading for real: `mamfusion-test-support selftest-data` under `mpirun -np 2` must return exactly
/// what one process returns — the same model inputs, bit for bit — from either layout, with
/// independent or collective MPI-IO, and each rank only its own videos.
@Suite(.serialized)
struct ShardedLoadingTests {
    static var recipe: SyntheticRecipe {
        var r = SyntheticRecipe()
        r.collection = "toy"
        r.trainVideos = 23
        r.evaluationVideos = 3
        r.queriesPerVideo = 2
        r.frames = 3...14
        r.tokens = 2...9
        r.visualDimension = 12
        r.queryDimension = 8
        r.seed = 11
        return r
    }

    /// Item lines ("video …" / "query …") by rank.
    static func items(_ output: ToolRunner.Output) -> [Int: [String]] {
        var table: [Int: [String]] = [:]
        for line in output.lines(startingWith: "rank ") {
            let parts = line.split(separator: " ", maxSplits: 2).map(String.init)
            guard parts.count == 3, let r = Int(parts[1]), parts[2].hasPrefix("video ") || parts[2].hasPrefix("query ") else { continue }
            table[r, default: []].append(parts[2])
        }
        return table
    }

    @Test("2 ranks together load exactly what 1 process loads, for both layouts and both MPI-IO modes")
    func shardedEqualsSingle() throws {
        try withTemporaryDirectory { dir in
            let generator = try SyntheticGenerator(recipe: Self.recipe)
            try generator.writeRelease(root: dir)
            try generator.writePacked(path: dir + "/toy.h5")
            let common = ["--split", "train", "--batch", "3", "--map-size", "4", "--max-ctx", "6", "--max-desc", "5"]
            let release = ["selftest-data", "--layout", "release", "--path", dir, "--collection", "toy"] + common
            let packed = ["selftest-data", "--layout", "packed", "--path", dir + "/toy.h5"] + common

            let single = try ToolRunner.run(release, timeout: 60, program: .testSupport)
            #expect(single.status == 0, "stderr: \(single.stderr)")
            let reference = Self.items(single)[0] ?? []
            #expect(reference.filter { $0.hasPrefix("video ") }.count == 23)
            #expect(reference.filter { $0.hasPrefix("query ") }.count == 46)

            for (name, arguments) in [("release", release), ("packed independent", packed + ["--transfer", "independent"]),
                                      ("packed collective", packed + ["--transfer", "collective"]),
                                      ("packed serial access", packed + ["--access", "serial"])] {
                let output = try ToolRunner.run(arguments, ranks: 2, timeout: 90, program: .testSupport)
                #expect(output.status == 0 && !output.timedOut, "\(name): \(output.stderr)")
                #expect(!output.stderr.contains("HDF5-DIAG"), "\(name): \(output.stderr)")
                let byRank = Self.items(output)
                #expect(Set((byRank[0] ?? []) + (byRank[1] ?? [])) == Set(reference), "\(name): the union of the shards differs from one process")
                #expect((byRank[0] ?? []).count + (byRank[1] ?? []).count == reference.count, "\(name)")
                for r in 0..<2 {
                    // Rank r read only the videos v with v mod 2 = r (and their captions).
                    let videos = (byRank[r] ?? []).compactMap { line -> Int? in
                        let parts = line.split(separator: " ")
                        return parts[0] == "video" ? Int(parts[1]) : Int(parts[4])
                    }
                    #expect(!videos.isEmpty && videos.allSatisfy { $0 % 2 == r }, "\(name) rank \(r)")
                }
            }
        }
    }
}
