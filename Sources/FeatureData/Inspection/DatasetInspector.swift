import InputFiles
import HDF5Kit

/// What `mamfusion inspect` prints: counts, dimensions, distributions, missing and orphan ids.
public struct InspectionReport: Sendable {
    public struct Split: Sendable {
        public var name: String
        public var videos = 0
        public var queries = 0
        public var framesPerVideo = Distribution([])
        /// nil where queries are single embeddings (CLIP token files).
        public var tokensPerQuery: Distribution? = Distribution([])
        public var queriesPerVideo = Distribution([])
    }

    public var layout: String
    public var location: String
    public var collection = ""
    public var visualFeature = ""
    public var visualDimension = 0
    public var queryDimension = 0
    /// Replaces the collection / Dv / Dq line (layouts described by other sizes).
    public var headline: String?
    /// What a split's queries are called ("queries"; "pairs" for (video, caption) pairs).
    public var queryNoun = "queries"
    public var details: [String] = []
    public var splits: [Split] = []
    /// Problems that make a split unusable (missing features, wrong dimensions, non-finite values).
    public var problems: [String] = []
    /// Things that are unused but harmless (orphan videos, frames, query features).
    public var notes: [String] = []

    public var isUsable: Bool { problems.isEmpty }

    public func render() -> String {
        var out = ["\(layout) layout: \(location)",
                   "  " + (headline ?? "collection \(collection), visual feature \(visualFeature), Dv \(visualDimension), Dq \(queryDimension)")]
        out += details.map { "  " + $0 }
        for s in splits {
            out.append("  split \(s.name): \(s.videos) videos, \(s.queries) \(queryNoun)")
            out.append("    frames per video:  \(s.framesPerVideo)")
            if let tokens = s.tokensPerQuery { out.append("    tokens per query:  \(tokens)") }
            let label = "    \(queryNoun) per video: "
            out.append(label + String(repeating: " ", count: max(0, 23 - label.count)) + "\(s.queriesPerVideo)")
        }
        out.append(problems.isEmpty ? "  problems: none" : "  problems (\(problems.count)):")
        out += problems.map { "    ✗ " + $0 }
        if !notes.isEmpty { out.append("  notes:") }
        out += notes.map { "    · " + $0 }
        return out.joined(separator: "\n")
    }
}

/// Builds `InspectionReport`s for both layouts. Files that cannot be parsed at all (a
/// malformed caption line, a broken dict literal, a truncated feature.bin…) throw the same
/// errors the loader would; id-level problems are collected and listed.
public enum DatasetInspector {
    /// Lists at most `limit` items, then how many more.
    static func list(_ items: [String], limit: Int = 8) -> String {
        items.prefix(limit).joined(separator: ", ") + (items.count > limit ? ", … and \(items.count - limit) more" : "")
    }

    /// Inspects a release-layout collection. With `scanValues`, every stored float is checked
    /// for NaN/±Inf (reads everything once).
    public static func inspectRelease(_ paths: CollectionPaths, scanValues: Bool = false) throws -> InspectionReport {
        var report = InspectionReport(layout: "release", location: "\(paths.root)/\(paths.collection)")
        report.collection = paths.collection
        report.visualFeature = paths.visualFeature
        let features = try BigFile(directory: paths.featureDirectory)
        report.visualDimension = features.dimension
        let entries = try VideoFramesLiteral.read(paths.videoFramesFile)
        var frameCounts: [String: Int] = [:]
        var usedRows = [Bool](repeating: false, count: features.rowCount)
        var unknownFrames: [String] = []
        for entry in entries {
            var known = 0
            for frame in entry.frameIDs {
                if let row = features.row(of: frame) {
                    usedRows[row] = true
                    known += 1
                } else {
                    unknownFrames.append("\(Excerpt.quote(frame)) (video \(Excerpt.quote(entry.videoID)), line \(entry.line))")
                }
            }
            frameCounts[entry.videoID] = known == entry.frameIDs.count ? known : -1
        }
        if !unknownFrames.isEmpty {
            report.problems.append("\(unknownFrames.count) frame ids of \(paths.videoFramesFile) are not in id.txt: \(list(unknownFrames))")
        }
        let queryFile = try withFileContext(paths.queryFeatureFile) { try HDF5File.open(paths.queryFeatureFile) }
        let queryNames = Set(try withFileContext(paths.queryFeatureFile) { try queryFile.memberNames() })
        report.details.append("feature.bin: \(features.rowCount) frame rows; video2frames.txt: \(entries.count) videos; query file: \(queryNames.count) datasets")
        var usedVideos = Set<String>(), usedQueries = Set<String>()
        var dimensions: [Int: Int] = [:]
        for split in ["train", "val", "test"] {
            let captionPath = paths.captionFile(split: split)
            guard try FileBytes.exists(captionPath) else {
                report.notes.append("no \(split) split (\(captionPath) does not exist)")
                continue
            }
            let lines = try CaptionFile.read(captionPath)
            let (videos, videoOfCaption) = SplitIndex.firstAppearance(lines.map(\.videoID))
            var summary = InspectionReport.Split(name: split)
            summary.videos = videos.count
            summary.queries = lines.count
            var missingVideos: [String] = [], emptyVideos: [String] = [], missingQueries: [String] = [], badQueries: [String] = []
            var frames: [Int] = [], tokens: [Int] = []
            for id in videos {
                usedVideos.insert(id)
                switch frameCounts[id] {
                case nil: missingVideos.append("\(Excerpt.quote(id))")
                case 0?: emptyVideos.append("\(Excerpt.quote(id))")
                case let n? where n > 0: frames.append(n)
                default: break  // has unknown frames: reported above
                }
            }
            for line in lines {
                usedQueries.insert(line.capID)
                guard queryNames.contains(line.capID) else {
                    missingQueries.append("\(Excerpt.quote(line.capID)) (line \(line.line))")
                    continue
                }
                do {
                    let dataset = try withFileContext(paths.queryFeatureFile, item: "caption \(Excerpt.quote(line.capID))") { try queryFile.openDataset(line.capID) }
                    let shape = try ReleaseCollection.validateQuery(dataset, capID: line.capID, file: paths.queryFeatureFile, expected: nil)
                    tokens.append(shape.tokens)
                    dimensions[shape.dimension, default: 0] += 1
                    if scanValues, let problem = try scanQuery(dataset, capID: line.capID) { report.problems.append(problem) }
                } catch let error as FeatureDataError {
                    badQueries.append("\(Excerpt.quote(line.capID)): \(error.problem)")
                }
            }
            var perVideo = [Int](repeating: 0, count: videos.count)
            for v in videoOfCaption { perVideo[v] += 1 }
            summary.framesPerVideo = Distribution(frames)
            summary.tokensPerQuery = Distribution(tokens)
            summary.queriesPerVideo = Distribution(perVideo)
            report.splits.append(summary)
            if !missingVideos.isEmpty {
                report.problems.append("\(split): \(missingVideos.count) caption videos have no features (not in video2frames.txt): \(list(missingVideos))")
            }
            if !emptyVideos.isEmpty { report.problems.append("\(split): \(emptyVideos.count) videos have zero frames: \(list(emptyVideos))") }
            if !missingQueries.isEmpty {
                report.problems.append("\(split): \(missingQueries.count) captions have no query features: \(list(missingQueries))")
            }
            if !badQueries.isEmpty { report.problems.append("\(split): \(badQueries.count) unusable query features: \(list(badQueries, limit: 3))") }
        }
        if report.splits.isEmpty {
            report.problems.append("no caption file for train, val or test in \(paths.root)/\(paths.collection)/TextData")
        }
        let dominant = dimensions.max { $0.value < $1.value }?.key ?? 0
        report.queryDimension = dominant
        if dimensions.count > 1 {
            report.problems.append("query features have mixed dimensions: " + dimensions.sorted { $0.key < $1.key }.map { "Dq \($0.key) × \($0.value)" }.joined(separator: ", "))
        }
        let orphanVideos = entries.map(\.videoID).filter { !usedVideos.contains($0) }
        if !orphanVideos.isEmpty { report.notes.append("\(orphanVideos.count) videos of video2frames.txt are in no caption file: \(list(orphanVideos))") }
        let orphanFrames = usedRows.indices.filter { !usedRows[$0] }.map { features.ids[$0] }
        if !orphanFrames.isEmpty { report.notes.append("\(orphanFrames.count) frame rows of feature.bin belong to no video: \(list(orphanFrames))") }
        let orphanQueries = queryNames.subtracting(usedQueries).sorted()
        if !orphanQueries.isEmpty { report.notes.append("\(orphanQueries.count) query-feature datasets match no caption: \(list(orphanQueries))") }
        if scanValues {
            let bad = try scanFrames(features)
            report.problems += bad
            report.details.append("scanned every stored value for NaN/Inf")
        }
        return report
    }

    /// Inspects a packed file.
    public static func inspectPacked(_ path: String, scanValues: Bool = false) throws -> InspectionReport {
        let file = try PackedFeatureFile(path: path)
        var report = InspectionReport(layout: "packed", location: path)
        report.collection = file.collection
        report.visualFeature = file.visualFeature
        report.visualDimension = file.visualDimension
        report.queryDimension = file.queryDimension
        report.details.append("format \(PackedFormat.name) version \(PackedFormat.version); \(file.videoIDs.count) videos, \(file.videoOffsets.last ?? 0) frame rows, \(file.capIDs.count) queries, \(file.queryOffsets.last ?? 0) token rows (\(file.queryIsDouble ? "float64" : "float32"))")
        report.details.append("source: \(file.sourceDescription)")
        var used = [Bool](repeating: false, count: file.videoIDs.count)
        for split in file.splits {
            let source = try file.split(split.name)
            let index = source.index
            var summary = InspectionReport.Split(name: split.name)
            summary.videos = index.videoCount
            summary.queries = index.captionCount
            summary.framesPerVideo = Distribution(index.frameCounts)
            summary.tokensPerQuery = Distribution(split.queries.map { file.tokenRows(ofQuery: $0).count })
            summary.queriesPerVideo = Distribution((0..<index.videoCount).map { index.videoCaptionOffsets[$0 + 1] - index.videoCaptionOffsets[$0] })
            report.splits.append(summary)
            for q in split.queries { used[file.queryVideo[q]] = true }
        }
        let orphans = used.indices.filter { !used[$0] }.map { file.videoIDs[$0] }
        if !orphans.isEmpty { report.notes.append("\(orphans.count) stored videos are in no split: \(list(orphans))") }
        var seen = Set<String>(), duplicates: [String] = []
        for id in file.videoIDs where !seen.insert(id).inserted { duplicates.append(id) }
        if !duplicates.isEmpty { report.problems.append("duplicate video ids: \(list(duplicates))") }
        if scanValues {
            let rows = file.videoOffsets.last ?? 0
            let block = max(1, (16 << 20) / (file.visualDimension * 4))
            var start = 0
            while start < rows {
                let range = start..<min(rows, start + block)
                let values = try withFileContext(path) { try file.frames.readRows(range, as: Float.self) }
                if let bad = values.withUnsafeBufferPointer({ FeaturePreprocessing.firstNonFinite($0) }) {
                    let row = range.lowerBound + bad / file.visualDimension
                    let video = (file.videoOffsets.firstIndex { $0 > row } ?? 1) - 1
                    report.problems.append("\(values[bad]) in frame row \(row) (video '\(file.videoIDs[video])')")
                }
                start = range.upperBound
            }
            report.details.append("scanned every stored frame value for NaN/Inf")
        }
        return report
    }

    static func scanQuery(_ dataset: HDF5Dataset, capID: String) throws -> String? {
        let values = try dataset.read(as: Double.self)
        guard let bad = values.withUnsafeBufferPointer({ FeaturePreprocessing.firstNonFinite($0) }) else { return nil }
        return "caption \(Excerpt.quote(capID)): \(values[bad]) in token \(bad / max(dataset.rowLength, 1))"
    }

    static func scanFrames(_ features: BigFile) throws -> [String] {
        var problems: [String] = []
        let block = max(1, (16 << 20) / (features.dimension * 4))
        var buffer = [Float](repeating: 0, count: block * features.dimension)
        var start = 0
        while start < features.rowCount {
            let range = start..<min(features.rowCount, start + block)
            try buffer.withUnsafeMutableBufferPointer { b in
                guard let base = b.baseAddress else { return }
                try features.readRows(range, into: base)
                var offset = 0
                let n = range.count * features.dimension
                while offset < n, let bad = FeaturePreprocessing.firstNonFinite(base + offset, count: n - offset) {
                    let row = range.lowerBound + (offset + bad) / features.dimension
                    problems.append("frame '\(features.ids[row])' (row \(row)): \(b[offset + bad])")
                    offset = (row - range.lowerBound + 1) * features.dimension
                }
            }
            start = range.upperBound
        }
        return problems.count > 8 ? Array(problems.prefix(8)) + ["… and \(problems.count - 8) more non-finite frames"] : problems
    }
}
