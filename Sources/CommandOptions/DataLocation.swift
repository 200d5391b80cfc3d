import FeatureData
import HDF5Kit
import MamFusion
import MPIKit

extension RunConfiguration {
    /// Where the configuration's data keys point (`data_layout`, `data_root`, `collection`,
    /// `visual_feature`, `packed_file`).
    public var featureLocation: FeatureLocation {
        switch dataLayout {
        case .release: return .release(CollectionPaths(root: dataRoot, collection: collection, visualFeature: visualFeature))
        case .packed: return .packed(packedFile)
        }
    }

    public var loaderOptions: LoaderOptions {
        LoaderOptions(mapSize: mapSize, maxContextLength: maxContextLength, maxDescriptionLength: maxDescriptionLength)
    }

    /// Opens `split` for this rank: release layout per rank, packed layout through MPI-IO.
    public func openSplit(_ split: String, world: any World) throws -> SplitLoader {
        let access: HDF5FileAccess = dataLayout == .packed ? .shared(by: world) : .serial
        let source = try FeatureDataset.open(featureLocation, split: split, visualDimension: visualFeatureSize,
                                             queryDimension: queryFeatureSize, access: access)
        return try SplitLoader(source: source, options: loaderOptions)
    }
}
