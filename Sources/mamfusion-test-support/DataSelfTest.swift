import ArgumentParser
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

    @Option(help: "release or packed.") var layout: String
    @Option(help: "Data root (release) or packed file.") var path: String
    @Option(help: "Collection (release).") var collection: String = "synthetic"
    @Option(help: "Visual-feature folder (release).") var visualFeature: String?
    @Option(help: "Split to load.") var split: String = "train"
    @Option(help: "Packed file access: parallel (MPI-IO) or serial (each rank opens it itself).") var access: String = "parallel"
    @Option(help: "Packed reads: independent or collective.") var transfer: String = "independent"
    @Option(help: "Videos per batch.") var batch: Int = 4
    @Option var mapSize: Int = 4
    @Option var maxCtx: Int = 8
    @Option var maxDesc: Int = 6

    func run() throws {
        let world = try Communicator.world()
        let pass = try ShardedReadPass(.init(layout: layout, path: path, collection: collection, visualFeature: visualFeature, split: split,
                                             access: access, transfer: transfer,
                                             options: LoaderOptions(mapSize: mapSize, maxContextLength: maxCtx, maxDescriptionLength: maxDesc)),
                                       world: world)
        var lines: [String] = []
        try world.barrier()
        try pass.run(batch: batch) { lines += describe($0, index: pass.loader.index, rank: world.rank) }
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
