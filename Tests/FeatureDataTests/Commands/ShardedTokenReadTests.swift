import Foundation
import Testing
import TestSupport
@testable import FeatureData

/// Sharded CLIP token reads for real: `mamfusion-test-support selftest-tokens` under `mpirun -np 2`
/// and `-np 3` returns exactly what one process reads — the same tokens (with padding frames) and
/// embeddings, bit for bit — with parallel independent, parallel collective and serial access,
/// each rank only its own pairs; `inspect` describes the file.
@Suite(.serialized)
struct ShardedTokenReadTests {
    /// Pair lines by rank: "pair <p> video … embedding <hash>".
    static func pairs(_ output: ToolRunner.Output) -> [Int: [String]] {
        var table: [Int: [String]] = [:]
        for line in output.lines(startingWith: "rank ") {
            let parts = line.split(separator: " ", maxSplits: 2).map(String.init)
            guard parts.count == 3, let r = Int(parts[1]), parts[2].hasPrefix("pair ") else { continue }
            table[r, default: []].append(parts[2])
        }
        return table
    }

    @Test("P ranks read exactly what one process reads, in every access mode")
    func shardedEqualsSingle() throws {
        try withTemporaryDirectory { dir in
            let synth = try ToolRunner.run(["synth", "--layout", "clip-tokens", "--out", dir + "/t.h5", "--videos", "13", "--queries-per-video", "3",
                                            "--width", "8", "--grid", "2", "--max-frames", "5", "--frames", "1..5", "--seed", "4"], timeout: 60)
            #expect(synth.status == 0, "\(synth.stderr)")
            let base = ["selftest-tokens", "--path", dir + "/t.h5", "--split", "train", "--batch", "4"]
            let single = try ToolRunner.run(base, timeout: 60, program: .testSupport)
            #expect(single.status == 0, "\(single.stderr)")
            let reference = Self.pairs(single)[0] ?? []
            #expect(reference.count == 39)
            #expect(Set(reference.map { $0.split(separator: " ")[3] }).count == 13, "13 videos, each in 3 pairs")
            for ranks in [2, 3] {
                for mode in [["--transfer", "independent"], ["--transfer", "collective"], ["--access", "serial"]] {
                    let output = try ToolRunner.run(base + mode, ranks: ranks, timeout: 90, program: .testSupport)
                    let name = "\(ranks) ranks \(mode)"
                    #expect(output.status == 0 && !output.timedOut, "\(name): \(output.stderr)")
                    #expect(!output.stderr.contains("HDF5-DIAG"), "\(name): \(output.stderr)")
                    let byRank = Self.pairs(output)
                    #expect((0..<ranks).flatMap { byRank[$0] ?? [] }.sorted() == reference.sorted(), "\(name): the shards together differ from one process")
                    for r in 0..<ranks {
                        let mine = (byRank[r] ?? []).compactMap { Int($0.split(separator: " ")[1]) }
                        #expect(!mine.isEmpty && mine.allSatisfy { $0 % ranks == r }, "\(name) rank \(r) read another rank's pairs")
                    }
                }
            }
            let inspect = try ToolRunner.run(["inspect", dir + "/t.h5", "--scan-values"], timeout: 60)
            #expect(inspect.status == 0, "\(inspect.stdout)\(inspect.stderr)")
            #expect(inspect.stdout.contains("clip-tokens layout: \(dir)/t.h5"))
            #expect(inspect.stdout.contains("width 8, grid 2×2 (5 tokens per frame), max_frames 5, float16"))
            #expect(inspect.stdout.contains("split train: 13 videos, 39 pairs"))
            #expect(inspect.stdout.contains("pairs per video:   min 3, p10 3, median 3, mean 3.0, p90 3, max 3"))
            #expect(inspect.stdout.contains("split test: 1 videos, 1 pairs"))
            #expect(inspect.stdout.contains("problems: none"))
        }
    }
}
