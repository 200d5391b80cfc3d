import Foundation
import HDF5Kit
import Testing
@testable import FeatureData

/// What lets `mamfusion import` hold no record and no listing: the compact id table, the
/// caption table streamed and read again at its records' offsets, and the feature directory
/// asked id by id.
struct ImportIndexTests {
    @Test("IDTable: insertion order, exact lookups, duplicates, growth, any UTF-8")
    func idTable() {
        var table = IDTable()
        let ids = (0..<40_000).map { "v\($0)" } + ["", "é", "日本語", "a\u{0}b", "v1 "]
        var fresh = true
        for (i, id) in ids.enumerated() {
            let (index, inserted) = table.insert(id)
            fresh = fresh && inserted && index == i
        }
        #expect(fresh && table.count == ids.count)
        #expect(table.insert("v17") == (17, false) && table.insert("日本語") == (40_002, false) && table.count == ids.count)
        #expect(ids.indices.allSatisfy { table[$0] == ids[$0] && table.index(of: ids[$0]) == $0 })
        #expect(table.index(of: "v40000") == nil && table.index(of: "a") == nil && table.index(of: "v1  ") == nil && table.index(of: "é ") == nil)
        var empty = IDTable()
        #expect(empty.index(of: "") == nil && empty.insert("") == (0, true) && empty.index(of: "") == 0 && empty[0] == "")
        #expect(IDTable.hash([UInt8]("v1".utf8).withUnsafeBufferPointer { $0 }) == IDTable.hash([UInt8]("v1".utf8).withUnsafeBufferPointer { $0 }))
    }

    /// Every record of `path` with its offset, and the parser.
    static func records(_ path: String, _ format: CaptionTable.Format) throws -> ([(ImportCaption, Int)], CaptionTable.RecordParser) {
        var all: [(ImportCaption, Int)] = []
        let parser = try CaptionTable.forEachRecord(path, format: format, defaultSplit: "train") { all.append(($0, $1)) }
        return (all, parser)
    }

    @Test("a record read again at its offset is the record read in the pass (TSV, CSV, JSON Lines; CRLF, blank lines, no final break)")
    func recordsReadAgain() throws {
        try withTemporaryDirectory { dir in
            let tables: [(String, CaptionTable.Format, String)] = [
                ("t.tsv", .tsv, "caption_id\tvideo_id\ttext\tsplit\r\nc1\tv1\tthe first\ttest\r\n\r\nc2\tv1\tsecond\t\nc3\tv2\tno break at the end\tval"),
                ("t.csv", .csv, "video_id,caption_id,text\nv1,c1,\"a, quoted \"\"text\"\"\"\n  \nv2,c2,plain"),
                ("t.jsonl", .jsonl, "{\"caption_id\": \"c1\", \"video_id\": \"v1\", \"text\": \"line\\nbreak\", \"split\": \"val\"}\n\n{\"caption_id\": \"c2\", \"video_id\": \"v2\", \"text\": \"é\"}\n"),
            ]
            for (name, format, text) in tables {
                try writeText(text, to: "\(dir)/\(name)")
                let (records, parser) = try Self.records("\(dir)/\(name)", format)
                #expect(records.count == (format == .tsv ? 3 : 2), "\(name)")
                let reader = try CaptionTable.RecordReader(parser)
                for (record, offset) in records.reversed() + records {
                    #expect(try reader.record(at: offset, line: record.line) == record, "\(name) line \(record.line)")
                }
            }
            let (tsv, _) = try Self.records("\(dir)/t.tsv", .tsv)
            #expect(tsv.map(\.0.split) == ["test", "train", "val"] && tsv.map(\.0.line) == [2, 4, 5] && tsv.map(\.1) == [32, 56, 70])
        }
    }

    @Test("a table larger than the reader's window is read again in order and out of order; a changed table is seen")
    func largeTable() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/big.tsv"
            // ≈ 2.6 MB: the reader's 1 MiB window is refilled, and lines straddle its ends.
            let lines = (0..<30_000).map { "c\($0)\tv\($0 / 3)\tcaption \($0) " + String(repeating: "x", count: $0 % 97) + "\ttrain" }
            try writeText(lines.joined(separator: "\n") + "\n", to: path)
            let (records, parser) = try Self.records(path, .tsv)
            #expect(records.count == 30_000 && records[29_999].0.captionID == "c29999")
            let reader = try CaptionTable.RecordReader(parser)
            var same = true
            for (record, offset) in records { same = try same && reader.record(at: offset, line: record.line) == record }
            for k in stride(from: 29_999, through: 0, by: -977) {
                same = try same && reader.record(at: records[k].1, line: records[k].0.line) == records[k].0
            }
            #expect(same)
            // The table is rewritten with other lengths: the same offset now lands elsewhere.
            try writeText(lines.map { "0" + $0 }.joined(separator: "\n") + "\n", to: path)
            let moved = try CaptionTable.RecordReader(parser).record(at: records[20_000].1, line: records[20_000].0.line)
            #expect(moved?.captionID != "c20000")
        }
    }

    @Test("feature arrays of a directory: counted once each, .npy + .npz a duplicate, other entries ignored, asked id by id")
    func directoryArrays() throws {
        try withTemporaryDirectory { dir in
            let arrays = dir + "/arrays"
            try FileManager.default.createDirectory(atPath: arrays, withIntermediateDirectories: true)
            for name in ["a.npy", "b.npz", "c.npy", "c.npz", "notes.txt", ".npy", "d#1.npy"] { try writeBytes([], to: "\(arrays)/\(name)") }
            let source = try FeatureArrays(path: arrays, role: "video features")
            #expect(source.count == 4 && source.duplicates == ["c": ["c.npy", "c.npz"]] && source.ignored == [".npy", "notes.txt"])
            var listed: [String] = []
            try source.forEachID { listed.append($0) }
            #expect(listed.sorted() == ["a", "b", "c", "d#1"])
            #expect(["a", "b", "c", "d#1"].allSatisfy(source.contains) && !["d", "", ".", "..", "a/b", "notes.txt"].contains(where: source.contains))
            #expect(source.location("c") == "\(arrays)/c.npy" && source.location("b") == "\(arrays)/b.npz" && source.location("a") == "\(arrays)/a.npy")
        }
    }

    @Test("feature arrays of an HDF5 file: its root datasets; groups are ignored and never contain an id")
    func hdf5Arrays() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/q.h5"
            do {
                let file = try HDF5File.create(path)
                try file.createDataset("c1", values: [Float](repeating: 0, count: 4), shape: [1, 4])
                try file.createDataset("c2", values: [Float](repeating: 0, count: 4), shape: [1, 4])
                try file.createDataset("group/c3", values: [Float](repeating: 0, count: 4), shape: [1, 4])
            }
            let source = try FeatureArrays(path: path, role: "query features")
            #expect(source.count == 2 && source.ignored == ["group"] && source.duplicates.isEmpty)
            var listed: [String] = []
            try source.forEachID { listed.append($0) }
            #expect(listed == ["c1", "c2"])
            #expect(source.contains("c1") && !source.contains("group") && !source.contains("group/c3") && !source.contains("c3"))
            #expect(source.location("c2") == path)
        }
    }
}
