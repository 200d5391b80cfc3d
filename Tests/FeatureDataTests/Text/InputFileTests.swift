import Foundation
import InputFiles
import Testing
@testable import FeatureData

/// Errors quote excerpts, lines are bounded while they are read, and
/// only regular files are read.
struct InputFileTests {
    @Test("an excerpt is short, escapes control bytes and never cuts a UTF-8 character")
    func excerpt() {
        #expect(Excerpt.quote("v1#enc#0") == "'v1#enc#0'")
        #expect(Excerpt.quote("a\u{0}b\nc'd\\") == "'a\\x00b\\x0Ac\\'d\\\\'")
        let long = String(repeating: "é", count: 100)  // 200 bytes
        let quoted = Excerpt.quote(long)
        #expect(quoted == "'" + String(repeating: "é", count: 24) + "…' (200 bytes)")
        #expect(Excerpt.quote([0x61, 0xFF, 0x62]) == "'a\u{FFFD}b'")
    }

    @Test("lines split across chunks, CRLF, a last line without a break, and the length limit")
    func lineSplitter() throws {
        var lines: [(Int, String)] = []
        var splitter = LineSplitter(file: "f", maximumLineBytes: 8)
        for chunk in ["ab", "c\r\nde", "f\n\nxyz"] {
            try Array(chunk.utf8).withUnsafeBufferPointer { b in try splitter.feed(b) { lines.append(($0, String(decoding: $1, as: UTF8.self))) } }
        }
        try splitter.finish { lines.append(($0, String(decoding: $1, as: UTF8.self))) }
        #expect(lines.map(\.0) == [1, 2, 3, 4] && lines.map(\.1) == ["abc", "def", "", "xyz"])
        // Each line's byte offset in the input, whichever chunk it started in.
        var offsets: [Int] = []
        var located = LineSplitter(file: "f", maximumLineBytes: 8)
        for chunk in ["ab", "c\r\nde", "f\n\nxyz"] {
            try Array(chunk.utf8).withUnsafeBufferPointer { b in try located.feed(b) { _, offset, _ in offsets.append(offset) } }
        }
        try located.finish { _, offset, _ in offsets.append(offset) }
        #expect(offsets == [0, 5, 9, 10])  // "abc\r\n" "def\n" "\n" "xyz"
        var short = LineSplitter(file: "f", maximumLineBytes: 8)
        #expect {
            try Array("ok\n0123456789".utf8).withUnsafeBufferPointer { b in try short.feed(b) { _, _ in } }
        } throws: { error in
            let e = error as! InputFileError
            return e.file == "f" && e.line == 2 && e.problem.contains("longer than the maximum of 8 bytes") && e.problem.contains("'01234567")
        }
    }

    @Test("a directory or a FIFO is refused by its type; a too large file by its size")
    func regularFilesOnly() throws {
        try withTemporaryDirectory { dir in
            #expect { try InputFile(dir) } throws: { ($0 as! InputFileError).problem == "not a regular file (a directory)" }
            let fifo = dir + "/fifo"
            #expect(mkfifo(fifo, 0o644) == 0)
            #expect { try InputFile(fifo) } throws: { ($0 as! InputFileError).problem == "not a regular file (a FIFO (named pipe))" }
            let file = dir + "/f.txt"
            try "0123456789".write(toFile: file, atomically: true, encoding: .utf8)
            #expect { try InputFile(file, maximumBytes: 9, what: "a test file") } throws: {
                ($0 as! InputFileError).problem == "10 bytes: larger than the maximum of 9 bytes for a test file"
            }
            #expect(try InputFile.readAll(file, maximumBytes: 10) == Array("0123456789".utf8))
        }
    }
}
