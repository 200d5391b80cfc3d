import Testing
import CHDF5
@testable import HDF5Kit

struct HDF5StringTests {
    static let strings = ["", "tvr#enc#0", "vid_0001", "café", "日本語のクエリ", "🎬 clip", String(repeating: "long ", count: 200)]

    @Test("variable-length UTF-8 strings round-trip, whole and by row range")
    func variableLength() throws {
        try withTemporaryDirectory { dir in
            do {
                let file = try HDF5File.create(dir + "/s.h5")
                let d = try file.createStringDataset("queries/cap_ids", strings: Self.strings)
                #expect(d.elementType.kind == .string(variableLength: true))
                #expect(d.shape == [Self.strings.count])
                try file.createStringDataset("none", strings: [])
            }
            let file = try HDF5File.open(dir + "/s.h5")
            #expect(try file.readStrings("queries/cap_ids") == Self.strings)
            let d = try file.openDataset("/queries/cap_ids")
            #expect(try d.readStrings(rows: 3..<6) == Array(Self.strings[3..<6]))
            #expect(try d.readStrings(rows: 2..<2) == [])
            #expect(throws: HDF5Error.self) { try d.read(as: Float.self) }
            #expect(throws: HDF5Error.self) { try d.readStrings(rows: 5..<9) }
            #expect(try file.readStrings("none") == [])
        }
    }

    @Test("a string table written piece by piece reads back whole; wrong pieces are refused")
    func writtenInPieces() throws {
        try withTemporaryDirectory { dir in
            let strings = (0..<1000).map { $0 % 7 == 0 ? "" : "caption \($0) " + String(repeating: "é", count: $0 % 13) }
            do {
                let file = try HDF5File.create(dir + "/s.h5")
                let d = try file.createStringDataset("texts", count: strings.count)
                #expect(d.shape == [1000] && d.elementType.kind == .string(variableLength: true))
                // Out of order, in pieces of different sizes.
                for piece in [600..<1000, 0..<1, 1..<333, 333..<600] { try d.writeStrings(rows: piece, Array(strings[piece])) }
                #expect(throws: HDF5Error.self) { try d.writeStrings(rows: 990..<1001, Array(repeating: "x", count: 11)) }
                #expect(throws: HDF5Error.self) { try d.writeStrings(rows: 0..<2, ["only one"]) }
                let numbers = try file.createDataset("numbers", type: .int64, shape: [2])
                #expect(throws: HDF5Error.self) { try numbers.writeStrings(rows: 0..<2, ["a", "b"]) }
                try d.writeStrings(rows: 5..<5, [])
            }
            #expect(try HDF5File.open(dir + "/s.h5").readStrings("texts") == strings)
        }
    }

    @Test("fixed-length strings written through the C API read back (null-padded, null-terminated, space-padded)",
          arguments: [H5T_STR_NULLPAD, H5T_STR_NULLTERM, H5T_STR_SPACEPAD])
    func fixedLength(padding: H5T_str_t) throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/f.h5"
            try HDF5File.create(path).close()
            // NULLTERM keeps the last byte for the terminator: widths leave room for it.
            let values = ["v1", "video_12", "", "abc"]
            writeFixedLengthStrings(file: path, dataset: "ids", values, width: 9, padding: padding)
            let file = try HDF5File.open(path)
            let d = try file.openDataset("ids")
            #expect(d.elementType == HDF5ElementType(kind: .string(variableLength: false), size: 9))
            #expect(d.elementType.isString && !d.elementType.isNumeric)
            #expect(try d.readStrings() == values)
            #expect(try d.readStrings(rows: 1..<3) == ["video_12", ""])
        }
    }

    @Test("string datasets cannot be numbers and numbers cannot be strings")
    func typeMismatch() throws {
        try withTemporaryDirectory { dir in
            let file = try HDF5File.create(dir + "/m.h5")
            let numbers = try file.createDataset("n", values: [Float(1), 2])
            let error = #expect(throws: HDF5Error.self) { try numbers.readStrings() }
            #expect(error?.description.contains("not strings") == true)
        }
    }
}
