import InputFiles

/// One entry of `video2frames.txt`: a video and its frame ids in temporal order.
public struct VideoFrameList: Sendable, Equatable {
    public let videoID: String
    public let frameIDs: [String]
    /// 1-based line where the entry's key starts.
    public let line: Int
}

/// Parser of `video2frames.txt`, a Python dict literal `{video_id: [frame_id, ...], ...}`,
/// read as data — never evaluated.
///
/// Accepted: single- or double-quoted strings (optionally with Python 2's `u` prefix) with
/// Python's backslash escapes (`\\ \' \" \n \t \r \0-\777 \xhh \uhhhh \Uhhhhhhhh`; an unknown
/// escape keeps its backslash, as Python does), whitespace anywhere between tokens, trailing
/// commas, an empty dict or list. Anything else — a missing colon or bracket, an unquoted
/// token, text after the closing brace, an unterminated string — is a `FeatureDataError`
/// naming the line and column. A video id given twice is an error naming both lines (Python
/// would silently keep the last one).
///
/// Works on bytes (the file is large for TVR); strings are UTF-8, invalid bytes replaced.
/// Errors quote ids and text only as short excerpts (`Excerpt`).
public enum VideoFramesLiteral {
    public static func parse(_ bytes: [UInt8], file: String) throws -> [VideoFrameList] {
        try bytes.withUnsafeBufferPointer { buffer in
            var parser = LiteralParser(bytes: buffer, file: file)
            return try parser.parseDictionary()
        }
    }

    /// Reads and parses the file at `path`.
    public static func read(_ path: String) throws -> [VideoFrameList] {
        try parse(FileBytes.read(path, what: "video2frames.txt"), file: path)
    }

    /// The Python literal for `entries` (single-quoted strings, as Python's `str(dict)`
    /// writes them), so that generated datasets look like the release's.
    public static func render(_ entries: [(videoID: String, frameIDs: [String])]) -> String {
        var out = "{"
        for (i, entry) in entries.enumerated() {
            if i > 0 { out += ", " }
            out += quote(entry.videoID) + ": ["
            out += entry.frameIDs.map(quote).joined(separator: ", ")
            out += "]"
        }
        return out + "}"
    }

    /// A Python single-quoted string literal for `text`.
    public static func quote(_ text: String) -> String {
        var out = "'"
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "'": out += "\\'"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += "\\x" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "'"
    }
}

/// A cursor over the literal's bytes that tracks line and column for errors.
private struct LiteralParser {
    let bytes: UnsafeBufferPointer<UInt8>
    let file: String
    var position = 0
    var line = 1
    var lineStart = 0

    init(bytes: UnsafeBufferPointer<UInt8>, file: String) {
        self.bytes = bytes
        self.file = file
    }

    var column: Int { position - lineStart + 1 }

    func fail(_ problem: String, item: String? = nil) -> FeatureDataError {
        FeatureDataError(file: file, item: item, line: line, "malformed dict literal at column \(column): \(problem)")
    }

    func describeHere() -> String {
        guard position < bytes.count else { return "end of file" }
        let end = min(bytes.count, position + 12)
        let snippet = bytes[position..<end].prefix { $0 != 0x0A }
        return Excerpt.quote(snippet)
    }

    mutating func skipSpace() {
        while position < bytes.count {
            let b = bytes[position]
            if b == 0x0A {
                line += 1
                position += 1
                lineStart = position
            } else if isSpace(b) {
                position += 1
            } else {
                break
            }
        }
    }

    /// Consumes `byte` (after whitespace) or throws, saying what was expected.
    mutating func expect(_ byte: UInt8, _ what: String) throws {
        skipSpace()
        guard position < bytes.count, bytes[position] == byte else {
            throw fail("expected \(what), found \(describeHere())")
        }
        position += 1
    }

    /// Consumes `byte` (after whitespace) if it is next.
    mutating func accept(_ byte: UInt8) -> Bool {
        skipSpace()
        if position < bytes.count && bytes[position] == byte {
            position += 1
            return true
        }
        return false
    }

    mutating func parseDictionary() throws -> [VideoFrameList] {
        try expect(UInt8(ascii: "{"), "'{' opening the dict")
        var entries: [VideoFrameList] = []
        var seen: [String: Int] = [:]
        while true {
            if accept(UInt8(ascii: "}")) { break }
            skipSpace()
            let keyLine = line
            let key = try parseString("a quoted video id or '}'")
            try expect(UInt8(ascii: ":"), "':' after video id \(Excerpt.quote(key))")
            let frames = try parseList(of: key)
            if let first = seen[key] {
                throw FeatureDataError(file: file, item: "video \(Excerpt.quote(key))", line: keyLine, "duplicate video id in the dict literal (first on line \(first))")
            }
            seen[key] = keyLine
            entries.append(VideoFrameList(videoID: key, frameIDs: frames, line: keyLine))
            if accept(UInt8(ascii: ",")) { continue }
            try expect(UInt8(ascii: "}"), "',' or '}' after the frame list of video \(Excerpt.quote(key))")
            break
        }
        skipSpace()
        guard position == bytes.count else {
            throw fail("unexpected text after the closing '}': \(describeHere())")
        }
        return entries
    }

    mutating func parseList(of key: String) throws -> [String] {
        let video = Excerpt.quote(key)
        try expect(UInt8(ascii: "["), "'[' opening the frame list of video \(video)")
        var values: [String] = []
        while true {
            if accept(UInt8(ascii: "]")) { break }
            values.append(try parseString("a quoted frame id or ']' in the frame list of video \(video)"))
            if accept(UInt8(ascii: ",")) { continue }
            try expect(UInt8(ascii: "]"), "',' or ']' in the frame list of video \(video)")
            break
        }
        return values
    }

    /// A quoted string with Python escapes; `what` describes the expectation for errors.
    mutating func parseString(_ what: String) throws -> String {
        skipSpace()
        guard position < bytes.count else { throw fail("expected \(what), found end of file") }
        if bytes[position] == UInt8(ascii: "u") || bytes[position] == UInt8(ascii: "U"),
           position + 1 < bytes.count, bytes[position + 1] == 0x27 || bytes[position + 1] == 0x22 {
            position += 1
        }
        let quote = bytes[position]
        guard quote == 0x27 || quote == 0x22 else { throw fail("expected \(what), found \(describeHere())") }
        let startLine = line, startColumn = column
        position += 1
        var out: [UInt8] = []
        let runStart = position
        // Fast path: no escapes.
        while position < bytes.count && bytes[position] != quote && bytes[position] != 0x5C && bytes[position] != 0x0A {
            position += 1
        }
        out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<position]))
        while true {
            guard position < bytes.count, bytes[position] != 0x0A else {
                throw FeatureDataError(file: file, line: startLine, "malformed dict literal at column \(startColumn): unterminated string")
            }
            let b = bytes[position]
            if b == quote {
                position += 1
                return String(decoding: out, as: UTF8.self)
            }
            if b != 0x5C {
                out.append(b)
                position += 1
                continue
            }
            // Backslash escape.
            position += 1
            guard position < bytes.count else {
                throw FeatureDataError(file: file, line: startLine, "malformed dict literal at column \(startColumn): unterminated string")
            }
            let e = bytes[position]
            position += 1
            switch e {
            case UInt8(ascii: "\\"), 0x27, 0x22: out.append(e)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "a"): out.append(0x07)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "v"): out.append(0x0B)
            case 0x0A:  // line continuation inside a string
                line += 1
                lineStart = position
            case UInt8(ascii: "0")...UInt8(ascii: "7"):
                var value = UInt32(e - UInt8(ascii: "0"))
                var digits = 1
                while digits < 3, position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(bytes[position]) {
                    value = value * 8 + UInt32(bytes[position] - UInt8(ascii: "0"))
                    position += 1
                    digits += 1
                }
                appendScalar(value, to: &out)
            case UInt8(ascii: "x"), UInt8(ascii: "u"), UInt8(ascii: "U"):
                let count = e == UInt8(ascii: "x") ? 2 : (e == UInt8(ascii: "u") ? 4 : 8)
                var value: UInt32 = 0
                for _ in 0..<count {
                    guard position < bytes.count, let digit = hexValue(bytes[position]) else {
                        throw fail("truncated \\\(Character(Unicode.Scalar(e))) escape (needs \(count) hex digits)")
                    }
                    value = value &* 16 &+ digit
                    position += 1
                }
                guard Unicode.Scalar(value) != nil else {
                    throw fail("escape \\\(Character(Unicode.Scalar(e))) names no Unicode character (0x\(String(value, radix: 16)))")
                }
                appendScalar(value, to: &out)
            default:
                out.append(0x5C)
                out.append(e)
            }
        }
    }

    func appendScalar(_ value: UInt32, to out: inout [UInt8]) {
        let scalar = Unicode.Scalar(value) ?? "\u{FFFD}"
        out.append(contentsOf: Array(String(Character(scalar)).utf8))
    }

    func hexValue(_ b: UInt8) -> UInt32? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(b - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(b - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(b - UInt8(ascii: "A") + 10)
        default: nil
        }
    }
}
