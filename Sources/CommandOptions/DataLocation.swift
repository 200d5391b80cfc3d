import FeatureData
import HDF5Kit
import MamFusion
import MPIKit

extension RunConfiguration {
    public var loaderOptions: LoaderOptions {
        LoaderOptions(mapSize: mapSize, maxContextLength: maxContextLength, maxDescriptionLength: maxDescriptionLength)
    }

    /// Opens `split` for this rank (`data_layout`, `data_root`, `collection`, `visual_feature`,
    /// `packed_file`): the release layout per rank; the packed and CLIP token files through MPI-IO.
    public func openSplit(_ split: String, world: any World) throws -> any InputLoader {
        let access: HDF5FileAccess = dataLayout != .release ? .shared(by: world) : .serial
        switch dataLayout {
        case .release, .packed:
            let location: FeatureLocation = dataLayout == .release
                ? .release(CollectionPaths(root: dataRoot, collection: collection, visualFeature: visualFeature)) : .packed(packedFile)
            let source = try FeatureDataset.open(location, split: split, visualDimension: visualFeatureSize,
                                                 queryDimension: queryFeatureSize, access: access)
            return try SplitLoader(source: source, options: loaderOptions)
        case .clipTokens:
            let tokens = try CLIPTokenCollection(path: packedFile, access: access)
            for (key, expected, found, attribute) in [("hidden_size", hiddenSize, tokens.width, "width"), ("muse_grid", museGrid, tokens.grid, "grid"),
                                                      ("muse_frames", museFrames, tokens.maxFrames, "max_frames")] where expected != found {
                throw FeatureDataError(file: packedFile, item: "attribute '\(attribute)'",
                                       "the tokens have \(attribute) \(found) but the configuration's \(key) is \(expected)")
            }
            guard maxContextLength >= tokens.maxFrames else {
                throw ConfigurationError(key: "max_ctx_l", problem: "must be ≥ the tokens' max_frames (\(tokens.maxFrames)): every video is read as that many frames")
            }
            return CLIPTokenLoader(split: try tokens.split(split))
        }
    }
}
