import InputFiles

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
/// Duplicate cap_ids are errors naming both lines. Blank lines carry nothing and are skipped;
/// a file with no caption at all is an error (a split without queries cannot be evaluated).
/// Text is UTF-8; invalid bytes are replaced (U+FFFD), never fatal.
///
/// Files are read line by line (`LineSplitter`): a line longer than `maximumLineBytes` is an
/// error as soon as it is seen, so memory stays bounded whatever the file holds. Errors quote
/// at most a short excerpt of a cap_id (`Excerpt`).
public enum CaptionFile {
    /// The longest caption line accepted: 64 KiB (reference captions are under 1 KiB).
    public static let maximumLineBytes = 1 << 16

    public static func parse(_ bytes: [UInt8], file: String) throws -> [CaptionLine] {
        var parser = Parser(file: file)
        try bytes.withUnsafeBufferPointer { buffer in
            try FileBytes.converting {
                try LineSplitter.lines(of: buffer, file: file, maximumLineBytes: maximumLineBytes) { try parser.add(line: $0, $1) }
            }
        }
        return try parser.finish()
    }

    /// Reads and parses the caption file at `path`, line by line.
    public static func read(_ path: String) throws -> [CaptionLine] {
        var parser = Parser(file: path)
        try FileBytes.converting {
            let input = try InputFile(path, what: "a caption file")
            try LineSplitter.lines(of: input, maximumLineBytes: maximumLineBytes) { try parser.add(line: $0, $1) }
        }
        return try parser.finish()
    }

    /// The captions parsed so far, and the cap_ids seen (for duplicates).
    struct Parser {
        let file: String
        var captions: [CaptionLine] = []
        var seen: [String: Int] = [:]
        var lines = 0

        init(file: String) { self.file = file }

        mutating func add(line: Int, _ buffer: UnsafeBufferPointer<UInt8>) throws {
            lines = line
            var lo = 0, hi = buffer.count
            while lo < hi && isSpace(buffer[lo]) { lo += 1 }
            while hi > lo && isSpace(buffer[hi - 1]) { hi -= 1 }
            if lo == hi { return }
            var space = lo
            while space < hi && buffer[space] != 0x20 { space += 1 }
            let idBytes = UnsafeBufferPointer(rebasing: buffer[lo..<space])
            let item = "caption \(Excerpt.quote(idBytes))"
            guard space < hi else {
                throw FeatureDataError(file: file, item: item, line: line,
                                       "malformed caption line: expected '<cap_id> <sentence>' (no space after the cap_id)")
            }
            if let bad = idBytes.first(where: { $0 < 0x20 || $0 == 0x7F }) {
                throw FeatureDataError(file: file, item: item, line: line,
                                       "malformed caption line: control character 0x\(String(bad, radix: 16)) in the cap_id")
            }
            guard let hash = idBytes.firstIndex(of: UInt8(ascii: "#")) else {
                throw FeatureDataError(file: file, item: item, line: line,
                                       "malformed caption line: cap_id has no '#' (expected <video_id>#enc#<k>)")
            }
            guard hash > 0 else {
                throw FeatureDataError(file: file, item: item, line: line, "malformed caption line: empty video id before '#'")
            }
            let capID = String(decoding: idBytes, as: UTF8.self)
            if let first = seen[capID] {
                throw FeatureDataError(file: file, item: item, line: line, "duplicate caption id (first on line \(first))")
            }
            seen[capID] = line
            var textStart = space + 1
            while textStart < hi && isSpace(buffer[textStart]) { textStart += 1 }
            let videoID = String(decoding: UnsafeBufferPointer(rebasing: idBytes[0..<hash]), as: UTF8.self)
            let text = String(decoding: UnsafeBufferPointer(rebasing: buffer[textStart..<hi]), as: UTF8.self)
            captions.append(CaptionLine(capID: capID, videoID: videoID, text: text, line: line))
        }

        func finish() throws -> [CaptionLine] {
            guard !captions.isEmpty else {
                throw FeatureDataError(file: file, lines == 0 ? "no captions: the caption file is empty"
                                                              : "no captions: the caption file holds only blank lines (\(lines))")
            }
            return captions
        }
    }
}
