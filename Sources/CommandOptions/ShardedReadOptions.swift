import ArgumentParser
import FeatureData
import MPIKit

/// The command-line options that select a split to read shard by shard (`ShardedReadPass`):
/// shared by `mamfusion bench data` and `mamfusion-test-support selftest-data`.
public struct ShardedReadOptions: ParsableArguments {
    @Option(help: "release or packed.") public var layout: String
    @Option(help: "Data root (release) or packed file.") public var path: String
    @Option(help: "Collection (release).") public var collection: String = "tvr"
    @Option(help: "Visual-feature folder (release).") public var visualFeature: String?
    @Option(help: "Split to load.") public var split: String = "train"
    @Option(help: "Packed file access: parallel (MPI-IO) or serial (each rank opens it itself).") public var access: String = "parallel"
    @Option(help: "Packed reads: independent or collective.") public var transfer: String = "independent"
    @Option(help: "Videos per batch.") public var batch: Int = 32
    @Option(help: "map_size.") public var mapSize: Int = 32
    @Option(help: "max_ctx_l.") public var maxCtx: Int = 128
    @Option(help: "max_desc_l.") public var maxDesc: Int = 30

    public init() {}

    public func validate() throws {
        guard ["release", "packed"].contains(layout), ["parallel", "serial"].contains(access), ["independent", "collective"].contains(transfer) else {
            throw ValidationError("--layout release|packed, --access parallel|serial, --transfer independent|collective")
        }
        guard batch >= 1, mapSize >= 1, maxCtx >= 1, maxDesc >= 1 else {
            throw ValidationError("--batch, --map-size, --max-ctx and --max-desc must be ≥ 1")
        }
    }

    /// The pass over this rank's shard of the split.
    public func pass(world: any World) throws -> ShardedReadPass {
        try ShardedReadPass(.init(layout: layout, path: path, collection: collection, visualFeature: visualFeature, split: split,
                                  access: access, transfer: transfer,
                                  options: LoaderOptions(mapSize: mapSize, maxContextLength: maxCtx, maxDescriptionLength: maxDesc)),
                            world: world)
    }
}
