import ArgumentParser
import Evaluation
import HDF5Kit
import MPIKit
import TensorKit

/// `mamfusion-test-support selftest-eval --index IN.h5 --queries Q.h5 …`: runs the sharded evaluator on a
/// problem a test wrote — each rank reads only its chunks of the embedding index
/// (`VideoPartition`) — and prints the raw results for the test to compare with a brute-force
/// full sort it computes itself. Floats are printed as hex bit patterns (exact):
///
///     rank <r> shard <start> <count>
///     rank <r> plan <Qb> <Vb> <plan bytes> <budget> <allocated + result bytes> <reduced bytes>
///     result ranks <rank of q0> <rank of q1> …                  (rank 0 only)
///     result scores <bits of s(q0,gt)> …
///     result top <q> <video>:<bits> …                            (with --top-k)
///
/// With `--write-index OUT.h5` the ranks also write their shards back as a new index in
/// parallel (the test compares it with the input). Not meant for users (hidden from help).
struct EvaluationSelfTest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selftest-eval",
        abstract: "Print raw sharded-evaluation results for the test suite.",
    )

    @Option(help: "Embedding index with the videos.") var index: String
    @Option(help: "HDF5 file with /queries [Q, d] float32 and /ground_truth [Q] int64.") var queries: String
    @Option(help: "Videos per chunk (eval_context_bsz).") var chunk: Int = 100
    @Option(name: .customLong("memory-budget"), help: "Evaluator memory budget in bytes.") var memoryBudget: Int = ShardedEvaluator.defaultMemoryBudget
    @Option(name: .customLong("top-k")) var topK: Int = 0
    @Option(name: .customLong("clip-weight")) var clipWeight: Float = 0.7
    @Option(name: .customLong("frame-weight")) var frameWeight: Float = 0.3
    @Option(name: .customLong("write-index"), help: "Write the shards back to this index, in parallel.") var writeIndex: String?
    @Option(help: "Score products: fp32, exact-bf16 or bf16.") var scoring: ScoringMode = .fp32
    @Option(name: .customLong("matmul-engine"), help: "openblas, onednn or auto.") var matmulEngine: String = "openblas"

    func run() throws {
        let world = try Communicator.world()
        let r = world.rank, p = world.size
        guard let engine = MatmulEngineChoice(rawValue: matmulEngine) else { throw ValidationError("--matmul-engine: openblas, onednn or auto") }
        try world.configureMatrixEngine(engine, precision: .fp32)
        let header = try EmbeddingIndex.readHeader(index)
        let partition = try VideoPartition(videoCount: header.videos, chunkSize: chunk, ranks: p)
        let mine = partition.videos(of: r)
        let shard = try EmbeddingIndex.read(index, videos: mine)

        let file = try HDF5File.open(queries)
        let querySet = try file.openDataset("queries")
        let embeddings = Tensor(shape: querySet.shape)
        try querySet.read(into: embeddings.buffer)
        let groundTruth = try file.readDataset("ground_truth", as: Int64.self).map(Int.init)
        let set = try QuerySet(embeddings: embeddings, groundTruth: groundTruth)

        var evaluator = ShardedEvaluator(world: world, weights: RankingWeights(clip: clipWeight, frame: frameWeight),
                                         memoryBudget: memoryBudget, topK: topK)
        evaluator.scoring = scoring
        let result = try evaluator.evaluate(queries: set, videos: shard)

        var lines = ["rank \(r) shard \(mine.lowerBound) \(mine.count)",
                     "rank \(r) plan \(result.plan.queryBlock) \(result.plan.videoBlock) \(result.plan.totalBytes) \(memoryBudget) "
                        + "\(result.allocatedBytes + result.plan.resultBytes) \(result.traffic.reducedBytes)",
                     "rank \(r) rescoring \(result.rescoring.screenedRows) \(result.rescoring.rescoredRows) \(result.rescoring.nearTieRows)"]
        if r == 0 {
            lines.append("result ranks " + result.ranks.map(String.init).joined(separator: " "))
            lines.append("result scores " + result.groundTruthScores.map { String($0.bitPattern, radix: 16) }.joined(separator: " "))
            if let top = result.top {
                for q in 0..<set.count {
                    lines.append("result top \(q) " + top.entries(ofQuery: q).map { "\($0.video):\(String($0.score.bitPattern, radix: 16))" }.joined(separator: " "))
                }
            }
        }
        if let writeIndex {
            let ids = try EmbeddingIndex.readVideoIDs(index)
            try EmbeddingIndex.write(to: writeIndex, shard: shard, videoIDs: Array(ids[mine]), world: world)
            lines.append("rank \(r) wrote-index")
        }
        // Every rank's lines go to rank 0, which prints them in rank order: the output of several
        // ranks forwarded by mpirun may otherwise interleave mid-line.
        try world.printInRankOrder(header: "selftest-eval on \(p) rank\(p == 1 ? "" : "s")", lines: lines)
    }
}

extension ScoringMode: ExpressibleByArgument {}
