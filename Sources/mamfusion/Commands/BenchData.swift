import ArgumentParser
import CommandOptions
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

    @OptionGroup var read: ShardedReadOptions
    @Option(help: "Passes over the shard.") var repeats: Int = 1
    @Flag(help: "Print one JSON object per rank instead of the table.") var json = false

    func validate() throws {
        guard repeats >= 1 else { throw ValidationError("--repeats must be ≥ 1") }
    }

    func run() throws {
        let world = try Communicator.world()
        let pass = try read.pass(world: world)
        try world.barrier()
        let start = MonotonicClock.now()
        try pass.run(batch: read.batch, repeats: repeats) { _ in }
        let wall = MonotonicClock.now() - start
        let s = pass.loader.statistics
        let line: String
        if json {
            let object: [String: Any] = ["rank": world.rank, "ranks": world.size, "layout": read.layout, "access": read.access, "transfer": read.transfer,
                                         "bytes": s.bytesRead, "read_s": s.readSeconds, "read_mbps": s.readMegabytesPerSecond,
                                         "preprocess_s": s.preprocessSeconds, "total_mbps": s.totalMegabytesPerSecond, "wall_s": wall]
            line = String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
        } else {
            line = String(format: "  rank %3d  %10.1f MB  read %7.2f s  %8.1f MB/s   preprocess %6.2f s   %8.1f MB/s overall   wall %6.2f s",
                          world.rank, Double(s.bytesRead) / 1e6, s.readSeconds, s.readMegabytesPerSecond, s.preprocessSeconds,
                          s.totalMegabytesPerSecond, wall)
        }
        try world.printInRankOrder(header: json ? nil : "bench data: \(read.layout) \(read.path) split \(read.split) on \(world.size) rank\(world.size == 1 ? "" : "s"), "
                                   + "access \(read.access), transfer \(read.transfer), batches of \(read.batch) videos × \(repeats) pass(es)", lines: [line])
    }
}
