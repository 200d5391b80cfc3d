import ArgumentParser
import CommandOptions
import FeatureData
import HDF5Kit
import MPIKit
import TensorKit

/// `mamfusion-test-support selftest-data`: sharded loading under `mpirun -np P`
/// (`ShardedReadPass`), printed for the test suite. Per item it prints
///
///     rank <r> video <v> <id> T <T> rows <n> clip <hash> frames <hash>
///     rank <r> query <q> <cap_id> video <v> tokens <n> hash <hash>
///
/// where a hash is FNV-1a over the float32 bit patterns of the model input, so a test can check
/// that P ranks together return exactly what one process returns, for either layout.
/// (`mamfusion bench data` times the same pass.)
struct DataSelfTest: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "selftest-data", abstract: "Print sharded feature loading for the test suite.")

    @OptionGroup var read: ShardedReadOptions

    func run() throws {
        let world = try Communicator.world()
        let pass = try read.pass(world: world)
        var lines: [String] = []
        try world.barrier()
        try pass.run(batch: read.batch) { lines += describe($0, index: pass.loader.index, rank: world.rank) }
        let stats = pass.loader.statistics
        lines.append("rank \(world.rank) stats loads \(stats.loads) bytes \(stats.bytesRead) read_MBps \(String(format: "%.1f", stats.readMegabytesPerSecond))")
        try world.printInRankOrder(lines: lines)
    }

    func describe(_ batch: TrainingBatch, index: SplitIndex, rank r: Int) -> [String] {
        var lines: [String] = []
        let videos = batch.videos
        for (i, v) in videos.videos.enumerated() {
            lines.append("rank \(r) video \(v) \(index.videoIDs[v]) T \(index.frameCounts[v]) rows \(videos.frameLengths[i]) "
                         + "clip \(hash(videos.clipRows(i))) frames \(hash(videos.frameRows(i)))")
        }
        let queries = batch.queries
        for (i, q) in queries.queries.enumerated() {
            lines.append("rank \(r) query \(q) \(index.captions[q].capID) video \(videos.videos[batch.queryVideoPosition[i]]) "
                         + "tokens \(queries.tokenLengths[i]) hash \(hash(queries.tokenRows(i)))")
        }
        return lines
    }

    func hash(_ values: UnsafeMutableBufferPointer<Float>) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for v in values { h = (h ^ UInt64(v.bitPattern)) &* 0x100_0000_01b3 }
        return String(h, radix: 16)
    }
}
