import HDF5Kit

/// Writes a collection in the MS-SL release layout (DATA.md §1), streaming: frames go straight
/// to `feature.bin`, ids to `id.txt`, each video's entry to `video2frames.txt`, captions to
/// their split's file, query features to one HDF5 dataset per cap_id. Used by `synth` (and
/// by tests to build fixtures). Output depends only on the calls made, so equal calls give
/// equal bytes.
public final class ReleaseLayoutWriter {
    public let paths: CollectionPaths
    public let visualDimension: Int
    public let queryDimension: Int
    private let features: BufferedFileWriter
    private let ids: BufferedFileWriter
    private let videoFrames: BufferedFileWriter
    private var captionFiles: [String: BufferedFileWriter] = [:]
    private let queryFile: HDF5File
    private var rows = 0
    private var videos = 0

    public init(paths: CollectionPaths, visualDimension: Int, queryDimension: Int) throws {
        self.paths = paths
        self.visualDimension = visualDimension
        self.queryDimension = queryDimension
        try makeDirectories(paths.featureDirectory)
        try makeDirectories(paths.root + "/" + paths.collection + "/TextData")
        features = try BufferedFileWriter(path: paths.featureFile)
        ids = try BufferedFileWriter(path: paths.idFile)
        videoFrames = try BufferedFileWriter(path: paths.videoFramesFile)
        try videoFrames.write("{")
        queryFile = try withFileContext(paths.queryFeatureFile) { try HDF5File.create(paths.queryFeatureFile) }
    }

    /// Appends a video: its frame ids and their features (frameIDs.count × Dv floats).
    public func addVideo(id: String, frameIDs: [String], features frames: UnsafeBufferPointer<Float>) throws {
        guard frames.count == frameIDs.count * visualDimension else {
            throw FeatureDataError(file: paths.featureFile, item: "video '\(id)'", "\(frames.count) floats for \(frameIDs.count) frames of D = \(visualDimension)")
        }
        try features.write(floats: frames)
        for frame in frameIDs {
            try ids.write(rows == 0 ? frame : " " + frame)
            rows += 1
        }
        try videoFrames.write((videos == 0 ? "" : ", ") + VideoFramesLiteral.quote(id) + ": [" + frameIDs.map(VideoFramesLiteral.quote).joined(separator: ", ") + "]")
        videos += 1
    }

    /// Appends a caption line to `split`'s caption file and stores its token features
    /// (n × Dq values, float32 or float64) as dataset `capID`.
    public func addCaption(split: String, capID: String, text: String, tokens: TokenValues) throws {
        let file: BufferedFileWriter
        if let existing = captionFiles[split] {
            file = existing
        } else {
            file = try BufferedFileWriter(path: paths.captionFile(split: split), capacity: 1 << 20)
            captionFiles[split] = file
        }
        try file.write(capID + " " + text + "\n")
        try withFileContext(paths.queryFeatureFile, item: "caption '\(capID)'") {
            switch tokens {
            case .float32(let v):
                try queryFile.createDataset(capID, values: v, shape: [v.count / max(queryDimension, 1), queryDimension])
            case .float64(let v):
                try queryFile.createDataset(capID, values: v, shape: [v.count / max(queryDimension, 1), queryDimension])
            }
        }
    }

    /// Writes `shape.txt` and closes every file.
    public func finish() throws {
        try videoFrames.write("}\n")
        try ids.write("\n")
        try features.close()
        try ids.close()
        try videoFrames.close()
        for split in captionFiles.keys.sorted() { try captionFiles[split]!.close() }
        let shape = try BufferedFileWriter(path: paths.shapeFile, capacity: 64)
        try shape.write("\(rows) \(visualDimension)\n")
        try shape.close()
        try withFileContext(paths.queryFeatureFile) {
            try queryFile.flush()
            try queryFile.close()
        }
    }
}
