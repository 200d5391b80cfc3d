import InputFiles
import TensorKit
#if canImport(Glibc)
import Glibc
#endif

/// `--ranks-out` of a text–video evaluation (`TextVideoResult`): JSON Lines, first one object per
/// caption (t2v), then one per video (v2t),
///
///     {"direction": "t2v", "cap_id": "…", "video_id": "…", "rank": 3, "score": 0.5123}
///     {"direction": "v2t", "video_id": "…", "cap_id": "…", "rank": 1, "score": 0.6012}
///
/// t2v: the caption's video, its rank and score; v2t: the video, its best caption (the one that
/// stands for it), its rank and score. Scores are the shortest decimals that read back to the
/// same Float. Written by one process to a temporary file renamed into place.
public enum TextVideoRankWriter {
    public static func write(to path: String, captionIDs: [String], videoIDs: [String], groundTruth: [Int],
                             result: TextVideoResult) throws {
        guard captionIDs.count == result.textToVideoRanks.count, groundTruth.count == captionIDs.count,
              videoIDs.count == result.videoToTextRanks.count else {
            throw EvaluationError.invalidInput("\(captionIDs.count) captions and \(videoIDs.count) videos for \(result.textToVideoRanks.count) "
                                               + "and \(result.videoToTextRanks.count) ranks")
        }
        var lines: [String] = []
        lines.reserveCapacity(captionIDs.count + videoIDs.count)
        for c in captionIDs.indices {
            lines.append("{\"direction\": \"t2v\", \"cap_id\": \(QuotedString.json(captionIDs[c])), \"video_id\": \(QuotedString.json(videoIDs[groundTruth[c]])), "
                         + "\"rank\": \(result.textToVideoRanks[c]), \"score\": \(RankRecordWriter.jsonNumber(result.textToVideoScores[c]))}")
        }
        for v in videoIDs.indices {
            let caption = captionIDs[result.videoToTextCaptions[v]]
            lines.append("{\"direction\": \"v2t\", \"video_id\": \(QuotedString.json(videoIDs[v])), \"cap_id\": \(QuotedString.json(caption)), "
                         + "\"rank\": \(result.videoToTextRanks[v]), \"score\": \(RankRecordWriter.jsonNumber(result.videoToTextScores[v]))}")
        }
        let temporary = path + ".tmp"
        guard let file = fopen(temporary, "w") else {
            throw EvaluationError.io(path: temporary, message: "cannot create: \(String(cString: strerror(errno)))")
        }
        let bytes = Array((lines.joined(separator: "\n") + "\n").utf8)
        let failed = fwrite(bytes, 1, bytes.count, file) != bytes.count || fflush(file) != 0
        if fclose(file) != 0 || failed {
            unlink(temporary)
            throw EvaluationError.io(path: temporary, message: "write failed: \(String(cString: strerror(errno)))")
        }
        do { try AtomicPublish.publish(temporary, as: path) } catch {
            throw EvaluationError.io(path: error.path, message: "\(error.call): \(error.reason)")
        }
    }
}
