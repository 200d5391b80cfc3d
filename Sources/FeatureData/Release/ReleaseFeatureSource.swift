import HDF5Kit

/// One split of a release-layout collection: frames read from `feature.bin` by offsets, query
/// features from the HDF5 file one dataset per cap_id.
public final class ReleaseFeatureSource: FeatureSource, Sendable {
    public let collection: ReleaseCollection
    public let index: SplitIndex
    /// Rows of `feature.bin` of every split video, video after video.
    let frameRows: [Int32]
    let frameOffsets: [Int]
    let captionLines: [Int]
    let captionFile: String

    init(collection: ReleaseCollection, index: SplitIndex, frameRows: [Int32], frameOffsets: [Int],
         captionLines: [Int], captionFile: String) {
        self.collection = collection
        self.index = index
        self.frameRows = frameRows
        self.frameOffsets = frameOffsets
        self.captionLines = captionLines
        self.captionFile = captionFile
    }

    public func readFrames(of videos: [Int], into output: UnsafeMutablePointer<Float>) throws -> Int {
        var rows: [Int32] = []
        rows.reserveCapacity(videos.reduce(0) { $0 + index.frameCounts[$1] })
        for v in videos { rows.append(contentsOf: frameRows[frameOffsets[v]..<frameOffsets[v + 1]]) }
        return try rows.withUnsafeBufferPointer { try collection.features.readRows($0, into: output) }
    }

    public func readQueries(_ queries: [Int]) throws -> (queries: [RawQuery], bytes: Int) {
        var result: [RawQuery] = []
        result.reserveCapacity(queries.count)
        var bytes = 0
        let file = collection.paths.queryFeatureFile
        for q in queries {
            let capID = index.captions[q].capID
            let raw: RawQuery = try withFileContext(file, item: "caption '\(capID)'") {
                let dataset = try collection.queryFile.openDataset(capID)
                let (n, _, isDouble) = try ReleaseCollection.validateQuery(dataset, capID: capID, file: file, expected: index.queryDimension)
                defer { try? dataset.close() }
                if isDouble {
                    bytes += n * index.queryDimension * 8
                    return RawQuery(tokenCount: n, values: .float64(try dataset.read(as: Double.self)))
                }
                bytes += n * index.queryDimension * dataset.elementType.size
                return RawQuery(tokenCount: n, values: .float32(try dataset.read(as: Float.self)))
            }
            result.append(raw)
        }
        return (result, bytes)
    }

    public func locate(frame: Int, ofVideo video: Int) -> ItemLocation {
        let row = Int(frameRows[frameOffsets[video] + frame])
        return ItemLocation(file: collection.features.featureFile,
                            item: "frame '\(collection.features.ids[row])' (row \(row), frame \(frame) of video '\(index.videoIDs[video])')")
    }

    public func locate(query: Int) -> ItemLocation {
        ItemLocation(file: collection.paths.queryFeatureFile, item: "caption '\(index.captions[query].capID)'")
    }
}
