import Foundation
import InputFiles

/// One caption of an import: its id, its video, its text, its split, and where it was read.
public struct ImportCaption: Sendable, Equatable {
    public let captionID: String
    public let videoID: String
    public let text: String
    public let split: String
    /// 1-based line of the caption table.
    public let line: Int
}

/// The caption table of `mamfusion import`: one caption per record — caption id, video id,
/// text, and optionally its split — as TSV, CSV or JSON Lines.
///
/// - **TSV** (`.tsv`, `.txt`): fields separated by tabs, no quoting.
/// - **CSV** (`.csv`): fields separated by commas; a field may be double-quoted, `""` inside
///   quotes is one `"` (RFC 4180). A quoted field may not span lines (each record is one line).
/// - **JSON Lines** (`.jsonl`): one object per line with string values for `caption_id`,
///   `video_id`, `text` and optionally `split`.
///
/// TSV and CSV: when the first record names the columns (it contains `video_id`), columns are
/// found by name — `caption_id` (or `cap_id`), `video_id`, `text` (or `caption`, `sentence`),
/// `split` — else they are taken in that order. Records without a split get `defaultSplit`.
/// Splits are `train`, `val` or `test` (the layouts' split names). Blank lines are skipped.
/// Line breaks and tabs inside a JSON text become spaces (a caption file holds one line per
/// caption). A malformed record is an error naming the file and line; problems with the values
/// (duplicate ids, characters an id may not hold) are collected by `ImportPlan` instead, so that
/// one run reports them all.
public enum CaptionTable {
    public enum Format: String, Sendable, CaseIterable {
        case tsv, csv, jsonl
    }

    /// The split names a caption may have.
    public static let splits = ["train", "val", "test"]

    /// The longest record accepted: 64 KiB, as for caption files.
    public static let maximumLineBytes = CaptionFile.maximumLineBytes

    /// The format of `path` from its extension, if it names one.
    public static func format(of path: String) -> Format? {
        switch (path as NSString).pathExtension.lowercased() {
        case "tsv", "txt": return .tsv
        case "csv": return .csv
        case "jsonl", "ndjson": return .jsonl
        default: return nil
        }
    }

    /// Parses the records of one table, line by line: learns the columns from a header record
    /// and then reads every record the same way (also when a record is read again).
    struct RecordParser: Sendable {
        let path: String
        let format: Format
        let defaultSplit: String
        private var columns: [String: Int]? = nil
        private var headerFields = 0
        private var first = true

        init(path: String, format: Format, defaultSplit: String) {
            self.path = path
            self.format = format
            self.defaultSplit = defaultSplit
        }

        /// The record on `line`, or nil for a blank line or the header.
        mutating func parse(line: Int, _ bytes: UnsafeBufferPointer<UInt8>) throws -> ImportCaption? {
            let text = String(decoding: bytes, as: UTF8.self)
            guard !text.allSatisfy({ $0 == " " || $0 == "\t" }) else { return nil }
            let path = path
            func fail(_ problem: String) -> FeatureDataError { FeatureDataError(file: path, line: line, problem) }
            if format == .jsonl { return try jsonRecord(text, line: line, defaultSplit: defaultSplit, fail: fail) }
            let fields = format == .tsv ? text.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
                                        : try csvFields(text, fail: fail)
            if first {
                first = false
                if fields.contains("video_id") {
                    columns = try header(fields, fail: fail)
                    headerFields = fields.count
                    return nil
                }
            }
            let map = columns ?? ["caption_id": 0, "video_id": 1, "text": 2, "split": 3]
            let expected = columns == nil ? (fields.count == 4 ? 4 : 3) : headerFields
            guard fields.count == expected else {
                let hint = fields.count == 1 && format == .tsv && text.contains(",") ? " (commas but no tabs: is it CSV? name it .csv or give --captions-format csv)" : ""
                throw fail("expected \(columns == nil ? "3 or 4 fields (caption_id, video_id, text[, split])" : "\(headerFields) fields as in the header") separated by \(format == .tsv ? "tabs" : "commas"), found \(fields.count)\(hint)")
            }
            let split = map["split"].map { fields[$0] } ?? defaultSplit
            return ImportCaption(captionID: fields[map["caption_id"]!], videoID: fields[map["video_id"]!],
                                 text: singleLine(fields[map["text"]!]), split: split.isEmpty ? defaultSplit : split, line: line)
        }
    }

    /// Streams the table at `path`: `body(record, byte offset of its line)` for each record,
    /// none of them kept. Returns the parser, which reads any record again (`RecordReader`).
    @discardableResult
    static func forEachRecord(_ path: String, format: Format, defaultSplit: String,
                              _ body: (ImportCaption, Int) throws -> Void) throws -> RecordParser {
        var parser = RecordParser(path: path, format: format, defaultSplit: defaultSplit)
        var records = 0
        try FileBytes.converting {
            let input = try InputFile(path, what: "a caption table")
            try LineSplitter.lines(of: input, maximumLineBytes: maximumLineBytes) { line, offset, bytes in
                guard let record = try parser.parse(line: line, bytes) else { return }
                records += 1
                try body(record, offset)
            }
        }
        guard records > 0 else { throw FeatureDataError(file: path, "no caption in the table") }
        return parser
    }

    /// Reads single records of a table again, by the byte offset and line number of their
    /// line, through a window of the file (records read in table order cost one read per MiB).
    final class RecordReader {
        private var parser: RecordParser
        private let input: InputFile
        private var window: [UInt8] = []
        private var windowStart = 0

        init(_ parser: RecordParser) throws {
            self.parser = parser
            input = try FileBytes.converting { try InputFile(parser.path, what: "a caption table") }
        }

        /// The record whose line starts at `offset`; nil if that line holds none or does not
        /// parse (the table changed since it was read).
        func record(at offset: Int, line: Int) throws -> ImportCaption? {
            var range = lineRange(offset, final: false)
            if range == nil {
                window = try [UInt8](unsafeUninitializedCapacity: Self.windowBytes) { buffer, initialised in
                    initialised = try FileBytes.converting { try input.read(into: UnsafeMutableRawBufferPointer(buffer), at: offset) }
                }
                windowStart = offset
                range = lineRange(offset, final: true)
            }
            guard var range else { return nil }
            if range.count > 0 && window[range.upperBound - 1] == 0x0D { range = range.lowerBound..<(range.upperBound - 1) }
            // A line that no longer parses is a changed table too.
            return window.withUnsafeBufferPointer { (try? parser.parse(line: line, UnsafeBufferPointer(rebasing: $0[range]))) ?? nil }
        }

        /// One read: 1 MiB, or more than the longest line.
        private static let windowBytes = max(1 << 20, CaptionTable.maximumLineBytes + 2)

        /// The bytes of the line at `offset` in the window (without its line break). A line
        /// that runs past the window ends there only when the window holds the end of the file
        /// (`final`: it was just read from the line's start).
        private func lineRange(_ offset: Int, final: Bool) -> Range<Int>? {
            guard offset >= windowStart, offset - windowStart <= window.count else { return nil }
            let start = offset - windowStart
            if let newline = window[start...].firstIndex(of: 0x0A) { return start..<newline }
            return final && window.count < Self.windowBytes ? start..<window.count : nil
        }
    }

    /// Column positions from a header record.
    static func header(_ fields: [String], fail: (String) -> FeatureDataError) throws -> [String: Int] {
        let aliases = ["caption_id": ["caption_id", "cap_id"], "video_id": ["video_id"], "text": ["text", "caption", "sentence"], "split": ["split"]]
        var columns: [String: Int] = [:]
        for (name, names) in aliases {
            let found = fields.indices.filter { names.contains(fields[$0]) }
            guard found.count <= 1 else { throw fail("header names column '\(name)' twice") }
            if let i = found.first { columns[name] = i }
        }
        for required in ["caption_id", "video_id", "text"] where columns[required] == nil {
            throw fail("the header (\(fields.map { Excerpt.quote($0) }.joined(separator: ", "))) has no '\(required)' column")
        }
        return columns
    }

    /// The fields of one CSV record (RFC 4180 quoting, one line).
    static func csvFields(_ line: String, fail: (String) -> FeatureDataError) throws -> [String] {
        var fields: [String] = []
        var field = ""
        var quoted = false, wasQuoted = false
        var scalars = line.unicodeScalars.makeIterator()
        var pending: Unicode.Scalar? = nil
        while let c = pending ?? scalars.next() {
            pending = nil
            if quoted {
                if c == "\"" {
                    if let next = scalars.next() {
                        if next == "\"" { field.unicodeScalars.append("\"") } else { quoted = false; pending = next }
                    } else {
                        quoted = false
                    }
                } else {
                    field.unicodeScalars.append(c)
                }
            } else if c == "," {
                fields.append(field)
                field = ""
                wasQuoted = false
            } else if c == "\"" && field.isEmpty && !wasQuoted {
                quoted = true
                wasQuoted = true
            } else if wasQuoted {
                throw fail("text after a closing quote in a CSV field")
            } else {
                field.unicodeScalars.append(c)
            }
        }
        if quoted { throw fail("unterminated quoted CSV field (a field may not span lines)") }
        fields.append(field)
        return fields
    }

    /// One JSON Lines record.
    static func jsonRecord(_ text: String, line: Int, defaultSplit: String, fail: (String) -> FeatureDataError) throws -> ImportCaption {
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: Data(text.utf8)) } catch {
            throw fail("not a JSON object: \(Excerpt.quote(text))")
        }
        guard let record = object as? [String: Any] else { throw fail("not a JSON object: \(Excerpt.quote(text))") }
        func string(_ names: [String], required: Bool) throws -> String? {
            for name in names {
                guard let value = record[name] else { continue }
                guard let s = value as? String else { throw fail("'\(name)' is not a string") }
                return s
            }
            if required { throw fail("missing '\(names[0])' (a record needs caption_id, video_id and text; split is optional)") }
            return nil
        }
        return ImportCaption(captionID: try string(["caption_id", "cap_id"], required: true)!, videoID: try string(["video_id"], required: true)!,
                             text: singleLine(try string(["text", "caption", "sentence"], required: true)!),
                             split: try string(["split"], required: false) ?? defaultSplit, line: line)
    }

    /// `text` with line breaks and tabs as spaces.
    static func singleLine(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0 == "\n" || $0 == "\r" || $0 == "\t" }) else { return text }
        return String(String.UnicodeScalarView(text.unicodeScalars.map { $0 == "\n" || $0 == "\r" || $0 == "\t" ? " " : $0 }))
    }
}
