/// Where the MS-SL release layout keeps a collection's files (DATA.md §1):
/// `<root>/<collection>/TextData/…` and `<root>/<collection>/FeatureData/<visual_feature>/…`.
public struct CollectionPaths: Sendable, Equatable {
    public let root: String
    public let collection: String
    public let visualFeature: String

    public init(root: String, collection: String, visualFeature: String) {
        self.root = root
        self.collection = collection
        self.visualFeature = visualFeature
    }

    var collectionDirectory: String { "\(root)/\(collection)" }

    /// `<collection><split>.caption.txt` for split train, val or test.
    public func captionFile(split: String) -> String { "\(collectionDirectory)/TextData/\(collection)\(split).caption.txt" }
    /// `roberta_<collection>_query_feat.hdf5`.
    public var queryFeatureFile: String { "\(collectionDirectory)/TextData/roberta_\(collection)_query_feat.hdf5" }
    public var featureDirectory: String { "\(collectionDirectory)/FeatureData/\(visualFeature)" }
    public var shapeFile: String { "\(featureDirectory)/shape.txt" }
    public var idFile: String { "\(featureDirectory)/id.txt" }
    public var featureFile: String { "\(featureDirectory)/feature.bin" }
    public var videoFramesFile: String { "\(featureDirectory)/video2frames.txt" }
}
