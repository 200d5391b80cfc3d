import Testing
@testable import FeatureData

/// Caption lines, `shape.txt`, `id.txt` and the `video2frames.txt` dict literal.
struct TextParserTests {
    static func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    @Test("caption lines split at the first space; video id is before the first '#'")
    func captions() throws {
        let text = "vid1#enc#0 a man walks  in\r\n\n  vid2#enc#3   the dog barks \nv#x#enc#1 x\n"
        let lines = try CaptionFile.parse(Self.bytes(text), file: "c.txt")
        #expect(lines.map(\.capID) == ["vid1#enc#0", "vid2#enc#3", "v#x#enc#1"])
        #expect(lines.map(\.videoID) == ["vid1", "vid2", "v"])
        #expect(lines.map(\.text) == ["a man walks  in", "the dog barks", "x"])
        #expect(lines.map(\.line) == [1, 3, 4])
    }

    @Test("malformed caption lines name file, caption and line", arguments: [
        ("v#enc#0 ok\nv#enc#1\n", 2, "no space"),
        ("v#enc#0 ok\nnohash text\n", 2, "no '#'"),
        ("#enc#0 text\n", 1, "empty video id"),
        ("v\t#enc#0 text\n", 1, "control character"),
    ])
    func malformedCaptions(text: String, line: Int, problem: String) {
        #expect {
            try CaptionFile.parse(Self.bytes(text), file: "c.txt")
        } throws: { error in
            let e = error as! FeatureDataError
            return e.file == "c.txt" && e.line == line && e.problem.contains("malformed caption line") && e.problem.contains(problem) && e.item != nil
        }
    }

    @Test("a duplicate caption id names both lines")
    func duplicateCaption() {
        #expect {
            try CaptionFile.parse(Self.bytes("v#enc#0 a\nw#enc#0 b\nv#enc#0 c\n"), file: "c.txt")
        } throws: { error in
            let e = error as! FeatureDataError
            return e.line == 3 && e.item == "caption 'v#enc#0'" && e.problem.contains("duplicate caption id (first on line 1)")
        }
    }

    @Test("shape.txt: '<N> <D>' on the first line")
    func shape() throws {
        #expect(try BigFileHeader.parseShape(Self.bytes("12 3072\n"), file: "s") == (12, 3072))
        #expect(try BigFileHeader.parseShape(Self.bytes("0 4"), file: "s") == (0, 4))
        for bad in ["", "12", "12 x", "12 3 4", "-1 3", "3 0", "99999999999999 99999999999"] {
            #expect(throws: FeatureDataError.self, "'\(bad)'") { try BigFileHeader.parseShape(Self.bytes(bad), file: "s") }
        }
    }

    @Test("id.txt: whitespace-separated ids read as ISO-8859-1")
    func ids() {
        #expect(BigFileHeader.parseIDs(Self.bytes(" a b\n\tc\r\nd ")) == ["a", "b", "c", "d"])
        #expect(BigFileHeader.parseIDs([0x63, 0x61, 0x66, 0xE9]) == ["café"])  // é is 0xE9 in ISO-8859-1
    }

    @Test("dict literal: quotes, escapes, u-prefix, trailing commas, empty lists, line numbers")
    func dictLiteral() throws {
        let text = """
        {'v1': ['v1_0', "v1_1",],
         u'v\\'2': [],
         "v3": ['a\\x41\\u00e9\\n\\\\', 'b\\q']  ,
        }
        """
        let entries = try VideoFramesLiteral.parse(Self.bytes(text), file: "v2f")
        #expect(entries.map(\.videoID) == ["v1", "v'2", "v3"])
        #expect(entries.map(\.frameIDs) == [["v1_0", "v1_1"], [], ["aAé\n\\", "b\\q"]])
        #expect(entries.map(\.line) == [1, 2, 3])
        #expect(try VideoFramesLiteral.parse(Self.bytes(" { } \n"), file: "v2f").isEmpty)
    }

    @Test("dict literal round trip through render")
    func render() throws {
        let entries: [(videoID: String, frameIDs: [String])] = [("a'b", ["x\\y", "tab\there"]), ("c", [])]
        let parsed = try VideoFramesLiteral.parse(Self.bytes(VideoFramesLiteral.render(entries)), file: "r")
        #expect(parsed.map(\.videoID) == ["a'b", "c"])
        #expect(parsed.map(\.frameIDs) == [["x\\y", "tab\there"], []])
    }

    @Test("malformed dict literals name the line", arguments: [
        ("{'a': ['x'] 'b': []}", 1, "expected ',' or '}'"),
        ("{'a': ['x',\n 'y' 'z']}", 2, "expected ',' or ']'"),
        ("{'a' ['x']}", 1, "expected ':'"),
        ("{'a': 'x'}", 1, "expected '['"),
        ("{'a': [x]}", 1, "expected a quoted frame id"),
        ("{'a': ['x']", 1, "expected ',' or '}'"),
        ("{'a': ['x]}", 1, "unterminated string"),
        ("{'a': ['x']} junk", 1, "unexpected text after"),
        ("['a']", 1, "expected '{'"),
        ("{'a': ['\\x4']}", 1, "truncated \\x escape"),
        ("\n\n{1: ['x']}", 3, "expected a quoted video id"),
    ])
    func malformedLiteral(text: String, line: Int, problem: String) {
        #expect {
            try VideoFramesLiteral.parse(Self.bytes(text), file: "v2f")
        } throws: { error in
            let e = error as! FeatureDataError
            return e.file == "v2f" && e.line == line && e.problem.contains("malformed dict literal") && e.problem.contains(problem)
        }
    }

    @Test("a duplicate video id in the dict names both lines")
    func duplicateVideo() {
        #expect {
            try VideoFramesLiteral.parse(Self.bytes("{'a': ['x'],\n'b': [],\n'a': ['y']}"), file: "v2f")
        } throws: { error in
            let e = error as! FeatureDataError
            return e.line == 3 && e.item == "video 'a'" && e.problem.contains("duplicate video id") && e.problem.contains("line 1")
        }
    }
}
