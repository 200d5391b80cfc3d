import InputFiles

extension DatasetInspector {
    /// Inspects a CLIP token file (`CLIPTokenFormat`): sizes, per split the pairs, videos, real
    /// frames per video and pairs per video; duplicate ids and empty splits are problems, stored
    /// videos and captions no split uses are notes. With `scanValues`, every stored token and
    /// embedding is checked for NaN/±Inf (reads everything once, in blocks).
    public static func inspectTokens(_ path: String, scanValues: Bool = false) throws -> InspectionReport {
        let c = try CLIPTokenCollection(path: path)
        var report = InspectionReport(layout: "clip-tokens", location: path)
        report.collection = c.collection
        report.visualDimension = c.width
        report.queryDimension = c.width
        report.queryNoun = "pairs"
        let frames = c.videoOffsets.last ?? 0
        report.headline = "collection \(c.collection), width \(c.width), grid \(c.grid)×\(c.grid) (\(c.tokensPerFrame) tokens per frame), "
            + "max_frames \(c.maxFrames), \(c.storesHalf ? "float16" : "float32")"
        report.details.append("format \(CLIPTokenFormat.name) version \(CLIPTokenFormat.version); \(c.videoIDs.count) videos, \(frames) real frames, "
                              + "\(c.captionIDs.count) captions")
        report.details.append("source: \(c.sourceDescription)")
        var videoUsed = [Bool](repeating: false, count: c.videoIDs.count), captionUsed = [Bool](repeating: false, count: c.captionIDs.count)
        for split in c.splits {
            let s = try c.split(split.name)
            var summary = InspectionReport.Split(name: split.name)
            summary.videos = s.videoCount
            summary.queries = s.pairCount
            summary.framesPerVideo = Distribution((0..<s.videoCount).map { s.frameCount(ofVideo: $0) })
            summary.tokensPerQuery = nil
            var perVideo = [Int](repeating: 0, count: s.videoCount)
            for v in s.pairVideo { perVideo[v] += 1 }
            summary.queriesPerVideo = Distribution(perVideo)
            report.splits.append(summary)
            if s.pairCount == 0 { report.problems.append("split '\(split.name)' has no pairs") }
            for caption in split.captions { captionUsed[caption] = true; videoUsed[c.captionVideo[caption]] = true }
        }
        if c.splits.isEmpty { report.problems.append("no splits (root attribute 'splits' is empty)") }
        for (what, ids) in [("video", c.videoIDs), ("caption", c.captionIDs)] {
            var seen = Set<String>(), duplicates: [String] = []
            for id in ids where !seen.insert(id).inserted { duplicates.append(Excerpt.quote(id)) }
            if !duplicates.isEmpty { report.problems.append("duplicate \(what) ids: \(list(duplicates))") }
        }
        let orphanVideos = videoUsed.indices.filter { !videoUsed[$0] }.map { Excerpt.quote(c.videoIDs[$0]) }
        if !orphanVideos.isEmpty { report.notes.append("\(orphanVideos.count) stored videos are in no split: \(list(orphanVideos))") }
        let orphanCaptions = captionUsed.indices.filter { !captionUsed[$0] }.map { Excerpt.quote(c.captionIDs[$0]) }
        if !orphanCaptions.isEmpty { report.notes.append("\(orphanCaptions.count) stored captions are in no split: \(list(orphanCaptions))") }
        if scanValues {
            report.problems += try scanTokens(c)
            report.details.append("scanned every stored token and embedding for NaN/Inf")
        }
        return report
    }

    /// Non-finite values in the tokens (named by video and frame) and the embeddings (by caption),
    /// read in blocks of about 16 MiB; at most 8 listed.
    static func scanTokens(_ c: CLIPTokenCollection) throws -> [String] {
        var problems: [String] = []
        for (table, rows, rowFloats) in [(CLIPTokenCollection.Table.tokens, c.videoOffsets.last ?? 0, c.tokensPerFrame * c.width),
                                         (.embeddings, c.captionIDs.count, c.width)] {
            let block = max(1, (16 << 20) / (rowFloats * 4))
            var start = 0
            while start < rows {
                let range = start..<min(rows, start + block)
                let values = try c.readFloats(table, rows: [range])
                var offset = 0
                let n = range.count * rowFloats
                while offset < n, let bad = FeaturePreprocessing.firstNonFinite(values.base + offset, count: n - offset) {
                    let row = range.lowerBound + (offset + bad) / rowFloats
                    if table == .tokens {
                        let video = (c.videoOffsets.firstIndex { $0 > row } ?? 1) - 1
                        problems.append("video \(Excerpt.quote(c.videoIDs[video])) frame \(row - c.videoOffsets[video]): \(values.base[offset + bad])")
                    } else {
                        problems.append("caption \(Excerpt.quote(c.captionIDs[row])) embedding: \(values.base[offset + bad])")
                    }
                    offset = (row - range.lowerBound + 1) * rowFloats
                }
                start = range.upperBound
            }
        }
        return problems.count > 8 ? Array(problems.prefix(8)) + ["… and \(problems.count - 8) more non-finite rows"] : problems
    }
}
