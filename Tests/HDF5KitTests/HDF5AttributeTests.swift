import Testing
import CHDF5
@testable import HDF5Kit

struct HDF5AttributeTests {
    static let values: [String: HDF5AttributeValue] = [
        "format": .string("mamfusion-packed"),
        "collection": .string("tvr · 日本"),
        "empty": .string(""),
        "Dv": .int64(3072),
        "min": .int64(.min),
        "lr": .double(2.5e-4),
        "negzero": .double(-0.0),
        "floats": .floats([1.5, -0.0, .infinity, Float(bitPattern: 0x7FC0_0042), .leastNonzeroMagnitude]),
        "doubles": .doubles([0.1, -1e300]),
        "ints": .int64s([1, -2, .max]),
        "none": .int64s([]),
    ]

    static func bits(_ value: HDF5AttributeValue) -> String {
        switch value {
        case .floats(let v): "floats \(v.map(\.bitPattern))"
        case .doubles(let v): "doubles \(v.map(\.bitPattern))"
        case .double(let v): "double \(v.bitPattern)"
        default: "\(value)"
        }
    }

    @Test("every attribute kind round-trips bit for bit on the file, a group and a dataset")
    func roundTrip() throws {
        try withTemporaryDirectory { dir in
            do {
                let file = try HDF5File.create(dir + "/a.h5")
                let group = try file.createGroup("g")
                let dataset = try group.createDataset("d", values: [Int64(1)])
                for object in [file, group, dataset] as [HDF5Object] {
                    for (name, value) in Self.values { try object.setAttribute(name, value) }
                }
            }
            let file = try HDF5File.open(dir + "/a.h5")
            for object in [file, try file.openGroup("g"), try file.openDataset("g/d")] as [HDF5Object] {
                #expect(try object.attributeNames() == Self.values.keys.sorted())
                for (name, value) in Self.values {
                    #expect(try Self.bits(object.attribute(name)) == Self.bits(value), "\(object.path) \(name)")
                }
            }
        }
    }

    @Test("overwriting replaces value and type; delete and exists")
    func overwrite() throws {
        try withTemporaryDirectory { dir in
            let file = try HDF5File.create(dir + "/o.h5")
            try file.setAttribute("epoch", .int64(3))
            try file.setAttribute("epoch", .int64(4))
            #expect(try file.int64Attribute("epoch") == 4)
            try file.setAttribute("epoch", .string("four"))
            #expect(try file.stringAttribute("epoch") == "four")
            try file.setAttribute("epoch", .floats([4, 4.5]))
            #expect(try file.floatArrayAttribute("epoch") == [4, 4.5])
            #expect(try file.attributeNames() == ["epoch"])
            #expect(try file.hasAttribute("epoch") && !file.hasAttribute("step"))
            try file.deleteAttribute("epoch")
            #expect(try file.attributeNames() == [])
            #expect(throws: HDF5Error.self) { try file.deleteAttribute("epoch") }
        }
    }

    @Test("typed getters convert where lossless in kind and throw on the wrong kind, naming the attribute")
    func typedGetters() throws {
        try withTemporaryDirectory { dir in
            let file = try HDF5File.create(dir + "/t.h5")
            try file.setAttribute("n", .int64(7))
            try file.setAttribute("x", .double(0.5))
            try file.setAttribute("one", .doubles([2]))
            try file.setAttribute("s", .string("hi"))
            #expect(try file.doubleAttribute("n") == 7)
            #expect(try file.doubleAttribute("one") == 2)
            #expect(try file.floatArrayAttribute("x") == [0.5])
            #expect(try file.int64ArrayAttribute("n") == [7])
            let error = #expect(throws: HDF5Error.self) { try file.int64Attribute("s") }
            #expect(error?.description.contains("attribute 's'") == true)
            #expect(error?.description.contains(dir + "/t.h5") == true)
            let missing = #expect(throws: HDF5Error.self) { try file.stringAttribute("absent") }
            #expect(missing?.call == "H5Aopen")
        }
    }

    @Test("a fixed-length string attribute written through the C API reads as a string")
    func fixedLengthStringAttribute() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/f.h5"
            try HDF5File.create(path).close()
            writeFixedLengthStrings(file: path, dataset: "format", ["packed-v1"], width: 16, padding: H5T_STR_NULLPAD, asAttribute: true)
            #expect(try HDF5File.open(path).stringAttribute("format") == "packed-v1")
        }
    }
}
