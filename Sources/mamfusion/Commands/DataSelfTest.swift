import ArgumentParser
import FeatureData
import HDF5Kit
import MPIKit
import TensorKit

/// `mamfusion selftest-data`: sharded loading under `mpirun -np P`, printed for the test suite
/// and timed for benchmarks. Not meant for users (hidden from help).
///
/// Rank r loads the videos v with v mod P = r, in descending order (any order must work), in
/// batches of `--batch` videos through the background prefetcher, together with their captions.
/// Every rank runs the same number of batches (an empty one when its shard is used up), as
/// collective MPI-IO requires. Per item it prints
///
///     rank <r> video <v> <id> T <T> rows <n> clip <hash> frames <hash>
///     rank <r> query <q> <cap_id> video <v> tokens <n> hash <hash>
///
/// where a hash is FNV-1a over the float32 bit patterns of the model input, so a test can check
/// that P ranks together return exactly what one process returns, for either layout. With
/// `--bench` it prints only timings: `rank <r> bench … read_MBps <x> …`.
struct DataSelfTest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selftest-data",
        abstract: "Print (or time) sharded feature loading for the test suite.",
        shouldDisplay: false
    )

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
    @Flag(help: "Print timings only.") var bench = false
    @Option(help: "Passes over the shard (bench).") var repeats: Int = 1

    func run() throws {
        let world = try Communicator.world()
        let r = world.rank, p = world.size
        let location: FeatureLocation
        if layout == "release" {
            location = .release(try CollectionPaths.resolve(root: path, collection: collection, visualFeature: visualFeature))
        } else {
            location = .packed(path)
        }
        let fileAccess: HDF5FileAccess = access == "parallel" ? .parallel(world) : .serial
        let source = try FeatureDataset.open(location, split: split, access: fileAccess,
                                             transfer: transfer == "collective" ? .collective : .independent)
        let loader = try SplitLoader(source: source, options: LoaderOptions(mapSize: mapSize, maxContextLength: maxCtx, maxDescriptionLength: maxDesc))
        let index = loader.index
        let shard = Array(stride(from: index.videoCount - 1, through: 0, by: -1).filter { $0 % p == r })
        let largestShard = (index.videoCount + p - 1) / p
        let rounds = (largestShard + batch - 1) / batch
        let size = batch
        let batches = (0..<rounds).map { k in Array(shard[min(shard.count, k * size)..<min(shard.count, (k + 1) * size)]) }

        var lines: [String] = []
        try world.barrier()
        let start = MonotonicClock.now()
        for _ in 0..<max(1, repeats) {
            let prefetcher = BatchPrefetcher<TrainingBatch>()
            if rounds > 0 { let first = batches[0]; prefetcher.prefetch { try loader.loadBatch(videos: first) } }
            for k in 0..<rounds {
                let loaded = try prefetcher.next()
                if k + 1 < rounds { let next = batches[k + 1]; prefetcher.prefetch { try loader.loadBatch(videos: next) } }
                if !bench && lines.count < 1_000_000 { lines += describe(loaded, index: index, rank: r) }
            }
        }
        let wall = MonotonicClock.now() - start
        let stats = loader.statistics
        if bench {
            lines = ["rank \(r) bench layout \(layout) access \(access) transfer \(transfer) ranks \(p) bytes \(stats.bytesRead) "
                     + "read_s \(fixed(stats.readSeconds)) read_MBps \(fixed(stats.readMegabytesPerSecond, 1)) "
                     + "preprocess_s \(fixed(stats.preprocessSeconds)) total_MBps \(fixed(stats.totalMegabytesPerSecond, 1)) wall_s \(fixed(wall))"]
        } else {
            lines.append("rank \(r) stats loads \(stats.loads) bytes \(stats.bytesRead) read_MBps \(fixed(stats.readMegabytesPerSecond, 1))")
        }
        for q in 0..<p {
            if q == r { for line in lines { print(line) }; fflushStdout() }
            try world.barrier()
        }
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

    func fixed(_ x: Double, _ digits: Int = 3) -> String {
        let scale = Double([1, 10, 100, 1000, 10000][min(digits, 4)])
        return String((x * scale).rounded() / scale)
    }
}
