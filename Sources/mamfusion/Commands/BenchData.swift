import ArgumentParser
import FeatureData
import Foundation
import MPIKit
import TensorKit

/// `mpirun -np P mamfusion bench data --layout release|packed --path …`: every rank reads its
/// shard of a split (`ShardedReadPass`: the model inputs of its videos and their captions, through
/// the prefetcher) and reports bytes read, read and preprocessing seconds and MB/s — to compare
/// layouts, MPI-IO modes and rank counts on a machine's file system.
struct BenchData: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "data", abstract: "Time sharded feature loading (MB/s per rank).")

    @Option(help: "release or packed.") var layout: String
    @Option(help: "Data root (release) or packed file.") var path: String
    @Option(help: "Collection (release).") var collection: String = "tvr"
    @Option(help: "Visual-feature folder (release).") var visualFeature: String?
    @Option(help: "Split to load.") var split: String = "train"
    @Option(help: "Packed file access: parallel (MPI-IO) or serial (each rank opens it itself).") var access: String = "parallel"
    @Option(help: "Packed reads: independent or collective.") var transfer: String = "independent"
    @Option(help: "Videos per batch.") var batch: Int = 32
    @Option(help: "map_size.") var mapSize: Int = 32
    @Option(help: "max_ctx_l.") var maxCtx: Int = 128
    @Option(help: "max_desc_l.") var maxDesc: Int = 30
    @Option(help: "Passes over the shard.") var repeats: Int = 1
    @Flag(help: "Print one JSON object per rank instead of the table.") var json = false

    func validate() throws {
        guard ["release", "packed"].contains(layout), ["parallel", "serial"].contains(access), ["independent", "collective"].contains(transfer) else {
            throw ValidationError("--layout release|packed, --access parallel|serial, --transfer independent|collective")
        }
        guard batch >= 1, repeats >= 1 else { throw ValidationError("--batch and --repeats must be ≥ 1") }
    }

    func run() throws {
        let world = try Communicator.world()
        let pass = try ShardedReadPass(.init(layout: layout, path: path, collection: collection, visualFeature: visualFeature, split: split,
                                             access: access, transfer: transfer,
                                             options: LoaderOptions(mapSize: mapSize, maxContextLength: maxCtx, maxDescriptionLength: maxDesc)),
                                       world: world)
        try world.barrier()
        let start = MonotonicClock.now()
        try pass.run(batch: batch, repeats: repeats) { _ in }
        let wall = MonotonicClock.now() - start
        let s = pass.loader.statistics
        let line: String
        if json {
            let object: [String: Any] = ["rank": world.rank, "ranks": world.size, "layout": layout, "access": access, "transfer": transfer,
                                         "bytes": s.bytesRead, "read_s": s.readSeconds, "read_mbps": s.readMegabytesPerSecond,
                                         "preprocess_s": s.preprocessSeconds, "total_mbps": s.totalMegabytesPerSecond, "wall_s": wall]
            line = String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
        } else {
            line = String(format: "  rank %3d  %10.1f MB  read %7.2f s  %8.1f MB/s   preprocess %6.2f s   %8.1f MB/s overall   wall %6.2f s",
                          world.rank, Double(s.bytesRead) / 1e6, s.readSeconds, s.readMegabytesPerSecond, s.preprocessSeconds,
                          s.totalMegabytesPerSecond, wall)
        }
        try world.printInRankOrder(header: json ? nil : "bench data: \(layout) \(path) split \(split) on \(world.size) rank\(world.size == 1 ? "" : "s"), "
                                   + "access \(access), transfer \(transfer), batches of \(batch) videos × \(repeats) pass(es)", lines: [line])
    }
}
