/// One line of a caption file: `<cap_id> <sentence>` (DATA.md §1).
public struct CaptionLine: Sendable, Equatable {
    /// `<video_id>#enc#<k>`.
    public let capID: String
    /// The part of `capID` before its first `#`.
    public let videoID: String
    /// The sentence (not used by the model; kept for reports).
    public let text: String
    /// 1-based line number in the caption file.
    public let line: Int
}

/// Parser of MS-SL caption files (`<collection><split>.caption.txt`).
///
/// Each non-blank line is stripped of surrounding whitespace and split at its first space, as
/// the reference does (`line.strip().split(' ', 1)`). A line without a space, a cap_id without
/// `#` or with an empty video id, or a cap_id containing control characters is malformed.
/// Duplicate cap_ids are errors naming both lines. Blank lines carry nothing and are skipped.
/// Text is UTF-8; invalid bytes are replaced (U+FFFD), never fatal.
public enum CaptionFile {
    public static func parse(_ bytes: [UInt8], file: String) throws -> [CaptionLine] {
        try bytes.withUnsafeBufferPointer { buffer in
            var captions: [CaptionLine] = []
            var seen: [String: Int] = [:]
            for (line, range) in lineRanges(buffer) {
                var lo = range.lowerBound, hi = range.upperBound
                while lo < hi && isSpace(buffer[lo]) { lo += 1 }
                while hi > lo && isSpace(buffer[hi - 1]) { hi -= 1 }
                if lo == hi { continue }
                var space = lo
                while space < hi && buffer[space] != 0x20 { space += 1 }
                let idBytes = UnsafeBufferPointer(rebasing: buffer[lo..<space])
                let capID = String(decoding: idBytes, as: UTF8.self)
                guard space < hi else {
                    throw FeatureDataError(file: file, item: "caption '\(capID)'", line: line,
                                           "malformed caption line: expected '<cap_id> <sentence>' (no space after the cap_id)")
                }
                if let bad = idBytes.first(where: { $0 < 0x20 || $0 == 0x7F }) {
                    throw FeatureDataError(file: file, item: "caption '\(capID)'", line: line,
                                           "malformed caption line: control character 0x\(String(bad, radix: 16)) in the cap_id")
                }
                guard let hash = idBytes.firstIndex(of: UInt8(ascii: "#")) else {
                    throw FeatureDataError(file: file, item: "caption '\(capID)'", line: line,
                                           "malformed caption line: cap_id has no '#' (expected <video_id>#enc#<k>)")
                }
                guard hash > 0 else {
                    throw FeatureDataError(file: file, item: "caption '\(capID)'", line: line,
                                           "malformed caption line: empty video id before '#'")
                }
                if let first = seen[capID] {
                    throw FeatureDataError(file: file, item: "caption '\(capID)'", line: line,
                                           "duplicate caption id (first on line \(first))")
                }
                seen[capID] = line
                var textStart = space + 1
                while textStart < hi && isSpace(buffer[textStart]) { textStart += 1 }
                let videoID = String(decoding: UnsafeBufferPointer(rebasing: idBytes[0..<hash]), as: UTF8.self)
                let text = String(decoding: UnsafeBufferPointer(rebasing: buffer[textStart..<hi]), as: UTF8.self)
                captions.append(CaptionLine(capID: capID, videoID: videoID, text: text, line: line))
            }
            return captions
        }
    }

    /// Reads and parses the caption file at `path`.
    public static func read(_ path: String) throws -> [CaptionLine] {
        try parse(FileBytes.read(path), file: path)
    }
}
