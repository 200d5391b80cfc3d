import HDF5Kit
import MPIKit

/// One pass of every rank over its shard of a split, the way the sharded-loading test and
/// `mamfusion bench data` read it: rank r loads the videos v with v mod P = r, in descending order
/// (any order must work), in batches through the background prefetcher, with their captions.
/// Every rank runs the same number of batches (an empty one when its shard is used up), as
/// collective MPI-IO requires.
public struct ShardedReadPass {
    /// Where the features are and how to read them (the options of both commands).
    public struct Source: Sendable {
        public var layout: String
        public var path: String
        public var collection: String
        public var visualFeature: String?
        public var split: String
        /// Packed files: "parallel" (MPI-IO) or "serial" (each rank opens the file itself).
        public var access: String
        /// Packed reads: "independent" or "collective".
        public var transfer: String
        public var options: LoaderOptions

        public init(layout: String, path: String, collection: String, visualFeature: String?, split: String,
                    access: String, transfer: String, options: LoaderOptions) {
            (self.layout, self.path, self.collection, self.visualFeature, self.split) = (layout, path, collection, visualFeature, split)
            (self.access, self.transfer, self.options) = (access, transfer, options)
        }
    }

    public let loader: SplitLoader
    public let rank: Int, ranks: Int

    /// Opens the split for `world`'s ranks ("parallel" access: MPI-IO when the world is MPI).
    public init(_ source: Source, world: any World) throws {
        let location: FeatureLocation = source.layout == "release"
            ? .release(try CollectionPaths.resolve(root: source.path, collection: source.collection, visualFeature: source.visualFeature))
            : .packed(source.path)
        let dataset = try FeatureDataset.open(location, split: source.split, access: source.access == "parallel" ? world.communicator.map { .parallel($0) } ?? .serial : .serial,
                                              transfer: source.transfer == "collective" ? .collective : .independent)
        loader = try SplitLoader(source: dataset, options: source.options)
        rank = world.rank
        ranks = world.size
    }

    /// Reads this rank's shard `repeats` times in batches of `batch` videos, handing each loaded
    /// batch to `visit`.
    public func run(batch: Int, repeats: Int = 1, visit: (TrainingBatch) throws -> Void) throws {
        let index = loader.index
        let shard = Array(stride(from: index.videoCount - 1, through: 0, by: -1).filter { $0 % ranks == rank })
        let rounds = ((index.videoCount + ranks - 1) / ranks + batch - 1) / batch
        let batches = (0..<rounds).map { k in Array(shard[min(shard.count, k * batch)..<min(shard.count, (k + 1) * batch)]) }
        let loader = self.loader
        for _ in 0..<max(1, repeats) {
            let prefetcher = BatchPrefetcher<TrainingBatch>()
            if rounds > 0 { let first = batches[0]; prefetcher.prefetch { try loader.loadBatch(videos: first) } }
            for k in 0..<rounds {
                let loaded = try prefetcher.next()
                if k + 1 < rounds { let next = batches[k + 1]; prefetcher.prefetch { try loader.loadBatch(videos: next) } }
                try visit(loaded)
            }
        }
    }
}
