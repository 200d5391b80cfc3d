import InputFiles
import TensorKit
#if canImport(Glibc)
import Glibc
#endif

/// `--ranks-out`: JSON Lines, one object per query in query order (for error analysis and scripts),
///
///     {"cap_id": "…", "video_id": "…", "rank": 3, "score": 0.5123, "top": [["…", 0.61], …]}
///
/// `video_id` is the query's ground-truth video, `score` its ranking score; `top` (with top-K
/// only) lists the K best videos, best first, in the ranking order. Scores are printed as the
/// shortest decimal that reads back to the same Float. Written by one process (rank 0), to a
/// temporary file renamed into place, so a reader never sees half a file.
public enum RankRecordWriter {
    /// Writes the records of `result` for queries `captionIDs` (Q ids, query order), with
    /// `videoIDs[v]` the id of global video v.
    public static func write(to path: String, captionIDs: [String], videoIDs: [String], groundTruth: [Int],
                             result: EvaluationResult) throws {
        guard captionIDs.count == result.ranks.count, groundTruth.count == result.ranks.count else {
            throw EvaluationError.invalidInput("\(captionIDs.count) caption ids and \(groundTruth.count) ground truths for \(result.ranks.count) ranked queries")
        }
        guard videoIDs.count == result.totalVideos else {
            throw EvaluationError.invalidInput("\(videoIDs.count) video ids for \(result.totalVideos) videos")
        }
        let temporary = path + ".tmp"
        guard let file = fopen(temporary, "w") else {
            throw EvaluationError.io(path: temporary, message: "cannot create: \(String(cString: strerror(errno)))")
        }
        var failed = false
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 20)
        func flush() {
            if !buffer.isEmpty && fwrite(buffer, 1, buffer.count, file) != buffer.count { failed = true }
            buffer.removeAll(keepingCapacity: true)
        }
        for q in result.ranks.indices {
            let top = result.top.map { lists in lists.entries(ofQuery: q).map { (videoIDs[$0.video], $0.score) } }
            buffer.append(contentsOf: record(captionID: captionIDs[q], videoID: videoIDs[groundTruth[q]], rank: result.ranks[q],
                                             score: result.groundTruthScores[q], top: top).utf8)
            buffer.append(0x0A)
            if buffer.count > 1 << 20 { flush() }
        }
        flush()
        if fflush(file) != 0 { failed = true }
        if fclose(file) != 0 { failed = true }
        guard !failed else {
            unlink(temporary)
            throw EvaluationError.io(path: temporary, message: "write failed: \(String(cString: strerror(errno)))")
        }
        do { try AtomicPublish.publish(temporary, as: path) } catch {
            throw EvaluationError.io(path: error.path, message: "\(error.call): \(error.reason)")
        }
    }

    /// One JSON object (no newline).
    public static func record(captionID: String, videoID: String, rank: Int, score: Float,
                              top: [(videoID: String, score: Float)]?) -> String {
        var s = "{\"cap_id\": \(QuotedString.json(captionID)), \"video_id\": \(QuotedString.json(videoID)), \"rank\": \(rank), \"score\": \(jsonNumber(score))"
        if let top {
            s += ", \"top\": ["
            s += top.map { "[\(QuotedString.json($0.videoID)), \(jsonNumber($0.score))]" }.joined(separator: ", ")
            s += "]"
        }
        return s + "}"
    }

    /// A JSON number: Swift's shortest round-trip form ("0.51234", "1e-05"); null if not finite.
    static func jsonNumber(_ value: Float) -> String {
        value.isFinite ? "\(value)" : "null"
    }
}
