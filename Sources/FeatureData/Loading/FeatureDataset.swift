import HDF5Kit

/// Where a collection's features are: an MS-SL release directory or a packed HDF5 file.
/// (From a run configuration: `data_layout: release` → `.release(CollectionPaths(root: data_root,
/// collection: collection, visualFeature: visual_feature))`; `packed` → `.packed(packed_file)`.)
public enum FeatureLocation: Sendable {
    case release(CollectionPaths)
    case packed(String)
}

/// Opening splits for training and evaluation.
///
///     let source = try FeatureDataset.open(location, split: "train", visualDimension: 3072, queryDimension: 768,
///                                          access: .parallel(world))
///     let loader = try SplitLoader(source: source, options: LoaderOptions(mapSize: 32, maxContextLength: 128, maxDescriptionLength: 30))
///     let batch = try loader.loadBatch(videos: myShard)
public enum FeatureDataset {
    /// Opens `split` at `location` for this process.
    ///
    /// - Release layout: every rank opens the files itself (no communication); `access` and
    ///   `transfer` are ignored.
    /// - Packed layout: `access: .parallel(communicator)` opens the file through MPI-IO (a
    ///   collective call: every rank of the communicator opens together); `.serial` lets each
    ///   process open it on its own. `transfer` chooses independent or collective reads.
    ///
    /// `visualDimension` / `queryDimension` (the configuration's `visual_feat_dim`,
    /// `q_feat_size`), when given, must match the data; a mismatch is an error naming the file.
    public static func open(_ location: FeatureLocation, split: String, visualDimension: Int? = nil, queryDimension: Int? = nil,
                            access: HDF5FileAccess = .serial, transfer: HDF5Transfer = .independent) throws -> any FeatureSource {
        switch location {
        case .release(let paths):
            let collection = try ReleaseCollection(paths: paths, visualDimension: visualDimension)
            return try collection.split(split, queryDimension: queryDimension)
        case .packed(let path):
            let file = try PackedFeatureFile(path: path, access: access)
            if let visualDimension, visualDimension != file.visualDimension {
                throw FeatureDataError(file: path, item: "attribute 'dv'", "visual features have Dv = \(file.visualDimension) but the configuration expects visual_feat_dim \(visualDimension)")
            }
            if let queryDimension, queryDimension != file.queryDimension {
                throw FeatureDataError(file: path, item: "attribute 'dq'", "query features have Dq = \(file.queryDimension) but the configuration expects q_feat_size \(queryDimension)")
            }
            return try file.split(split, transfer: transfer)
        }
    }
}
