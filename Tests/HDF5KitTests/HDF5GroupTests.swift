import Testing
@testable import HDF5Kit

struct HDF5GroupTests {
    @Test("groups and datasets create their missing intermediate groups; exists checks every component")
    func intermediateGroups() throws {
        try withTemporaryDirectory { dir in
            let file = try HDF5File.create(dir + "/g.h5")
            let c = try file.createGroup("a/b/c")
            #expect(c.path == "/a/b/c")
            try file.createDataset("x/y/z", values: [Int32(1)])
            for path in ["a", "/a", "a/b", "/a/b/c", "x", "x/y", "x/y/z", "/", ""] {
                #expect(try file.exists(path), "\(path)")
            }
            for path in ["b", "a/c", "a/x/y", "/x/y/z/w", "q/r/s"] {
                #expect(try !file.exists(path), "\(path)")
            }
            #expect(try file.kind(of: "a/b") == .group)
            #expect(try file.kind(of: "x/y/z") == .dataset)
            #expect(try file.kind(of: "nope") == nil)
            let b = try file.openGroup("a/b")
            #expect(try b.exists("c") && !b.exists("a"))
            #expect(try b.exists("/x/y"))  // absolute paths start at the root
            let d = try b.createDataset("c/values", values: [Int64(5)])
            #expect(d.path == "/a/b/c/values")
            #expect(try file.readDataset("/a/b/c/values", as: Int64.self) == [5])
            #expect(throws: HDF5Error.self) { try file.createGroup("a/b") }  // exists already
            #expect(throws: HDF5Error.self) { try file.openGroup("x/y/z") }  // a dataset
        }
    }

    @Test("member names are listed sorted by name (byte order), not in creation order")
    func memberNames() throws {
        try withTemporaryDirectory { dir in
            let file = try HDF5File.create(dir + "/m.h5")
            for name in ["zeta", "alpha", "Beta", "mid/inner", "query_pos_embed.LayerNorm.weight", "_x"] {
                try file.createDataset(name, values: [Float(0)])
            }
            try file.createGroup("empty")
            #expect(try file.memberNames() == ["Beta", "_x", "alpha", "empty", "mid", "query_pos_embed.LayerNorm.weight", "zeta"])
            #expect(try file.openGroup("mid").memberNames() == ["inner"])
            #expect(try file.openGroup("empty").memberNames() == [])
        }
    }

    @Test("closing a file while one of its datasets is open throws; closing in order works")
    func closeOrder() throws {
        try withTemporaryDirectory { dir in
            let file = try HDF5File.create(dir + "/c.h5")
            let d = try file.createDataset("x", values: [Float(1)])
            let error = #expect(throws: HDF5Error.self) { try file.close() }
            #expect(error?.call == "H5Fclose")
            try d.close()
            try d.close()  // idempotent
            #expect(throws: HDF5Error.self) { try d.read(as: Float.self) }  // closed
            try file.close()
            #expect(try HDF5File.open(dir + "/c.h5").readDataset("x", as: Float.self) == [1])
        }
    }
}
