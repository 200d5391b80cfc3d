import InputFiles
#if canImport(Glibc)
import Glibc
#endif

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

extension CollectionPaths {
    /// The visual-feature folder of the reference collections (DATA.md §1): tvr → i3d_resnet,
    /// activitynet → i3d, charades → i3d_rgb_lgi.
    public static func referenceVisualFeature(collection: String) -> String? {
        switch collection {
        case "tvr": "i3d_resnet"
        case "activitynet": "i3d"
        case "charades": "i3d_rgb_lgi"
        default: nil
        }
    }

    /// Paths for `collection` under `root`, choosing the visual-feature folder when it is not
    /// given: the only folder under `FeatureData/`, else the reference collection's folder.
    public static func resolve(root: String, collection: String, visualFeature: String?) throws -> CollectionPaths {
        if let visualFeature { return CollectionPaths(root: root, collection: collection, visualFeature: visualFeature) }
        let directory = "\(root)/\(collection)/FeatureData"
        var folders: [String] = [], broken: [String] = []
        for name in (try? listDirectory(directory)) ?? [] {
            var info = stat()
            if stat("\(directory)/\(name)", &info) != 0 {
                broken.append("\(Excerpt.quote(name)) cannot be followed: \(FileBytes.missingFileProblem(errno))")
            } else if (info.st_mode & S_IFMT) == S_IFDIR {
                folders.append(name)
            }
        }
        if folders.count == 1 { return CollectionPaths(root: root, collection: collection, visualFeature: folders[0]) }
        if let reference = referenceVisualFeature(collection: collection), folders.isEmpty || folders.contains(reference) {
            return CollectionPaths(root: root, collection: collection, visualFeature: reference)
        }
        guard FileBytes.isDirectory(directory) else {
            throw FeatureDataError(file: directory, "missing directory (is \(root) the data root holding \(collection)/?)")
        }
        if folders.isEmpty {
            throw FeatureDataError(file: directory, "no feature folder" + (broken.isEmpty ? " (the directory holds no sub-directory)" : ": " + broken.joined(separator: "; ")))
        }
        throw FeatureDataError(file: directory, "several feature folders (\(folders.map { Excerpt.quote($0) }.joined(separator: ", "))): choose one with --visual-feature")
    }
}


/// Names in `path` (without . and ..), sorted.
func listDirectory(_ path: String) throws -> [String] {
    guard let dir = opendir(path) else { throw FeatureDataError(file: path, FileBytes.missingFileProblem(errno)) }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        if name != "." && name != ".." { names.append(name) }
    }
    return names.sorted()
}
