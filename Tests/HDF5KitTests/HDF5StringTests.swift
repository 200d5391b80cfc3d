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
