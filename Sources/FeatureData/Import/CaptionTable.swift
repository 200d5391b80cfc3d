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

    /// Reads the table at `path`, record by record.
    public static func read(_ path: String, format: Format, defaultSplit: String) throws -> [ImportCaption] {
        var captions: [ImportCaption] = []
        var columns: [String: Int]? = nil
        var headerFields = 0
        var first = true
        try FileBytes.converting {
            let input = try InputFile(path, what: "a caption table")
            try LineSplitter.lines(of: input, maximumLineBytes: maximumLineBytes) { line, bytes in
                let text = String(decoding: bytes, as: UTF8.self)
                guard !text.allSatisfy({ $0 == " " || $0 == "\t" }) else { return }
                func fail(_ problem: String) -> FeatureDataError { FeatureDataError(file: path, line: line, problem) }
                if format == .jsonl {
                    captions.append(try jsonRecord(text, line: line, defaultSplit: defaultSplit, fail: fail))
                    return
                }
                let fields = format == .tsv ? text.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
                                            : try csvFields(text, fail: fail)
                if first {
                    first = false
                    if fields.contains("video_id") {
                        columns = try header(fields, fail: fail)
                        headerFields = fields.count
                        return
                    }
                }
                let map = columns ?? ["caption_id": 0, "video_id": 1, "text": 2, "split": 3]
                let expected = columns == nil ? (fields.count == 4 ? 4 : 3) : headerFields
                guard fields.count == expected else {
                    let hint = fields.count == 1 && format == .tsv && text.contains(",") ? " (commas but no tabs: is it CSV? name it .csv or give --captions-format csv)" : ""
                    throw fail("expected \(columns == nil ? "3 or 4 fields (caption_id, video_id, text[, split])" : "\(headerFields) fields as in the header") separated by \(format == .tsv ? "tabs" : "commas"), found \(fields.count)\(hint)")
                }
                let split = map["split"].map { fields[$0] } ?? defaultSplit
                captions.append(ImportCaption(captionID: fields[map["caption_id"]!], videoID: fields[map["video_id"]!],
                                              text: singleLine(fields[map["text"]!]), split: split.isEmpty ? defaultSplit : split, line: line))
            }
        }
        guard !captions.isEmpty else { throw FeatureDataError(file: path, "no caption in the table") }
        return captions
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
