import Testing
import CHDF5
@testable import HDF5Kit

struct HDF5HandleTests {
    /// Identifiers HDF5 hands out are sequential per kind. A probe takes the next identifier of
    /// each transient kind (and closes it); every identifier issued between two probes that is
    /// still valid afterwards was leaked. Files, groups, datasets and attributes are counted
    /// directly (H5Fget_obj_count over all files).
    struct Probe {
        let dataspace, propertyList, datatype: hid_t
        let fileObjects: Int

        init() {
            dataspace = H5Screate(H5S_SCALAR)
            propertyList = H5Pcreate(mf_h5p_dataset_xfer())
            datatype = H5Tcopy(mf_h5t_c_s1())
            H5Sclose(dataspace); H5Pclose(propertyList); H5Tclose(datatype)
            fileObjects = H5Fget_obj_count(hid_t(mf_h5f_obj_all()), mf_h5f_obj_all())
        }

        /// Identifiers issued since `earlier` that are still open.
        func stillOpen(since earlier: Probe) -> [String: Int] {
            func open(_ a: hid_t, _ b: hid_t) -> Int { (a + 1 ..< b).filter { H5Iis_valid($0) > 0 }.count }
            return ["dataspace": open(earlier.dataspace, dataspace),
                    "property list": open(earlier.propertyList, propertyList),
                    "datatype": open(earlier.datatype, datatype),
                    "file objects": fileObjects - earlier.fileObjects]
        }
    }

    /// Uses every part of HDF5Kit once, failures included.
    static func exercise(_ dir: String, _ round: Int) throws {
        let path = dir + "/h\(round).h5"
        do {
            let file = try HDF5File.create(path)
            try file.setAttribute("s", .string("x"))
            try file.setAttribute("f", .floats([1, 2]))
            let d = try file.createDataset("g/d", values: (0..<12).map { Float($0) }, shape: [4, 3], chunk: [2, 3])
            try d.setAttribute("n", .int64(1))
            _ = try d.readRows(1..<3, as: Double.self)
            try d.writeRows(0..<1, [Float(1), 2, 3])
            try file.createStringDataset("names", strings: ["a", "b"])
            _ = try file.readStrings("names")
            _ = try file.memberNames()
            _ = try file.openGroup("g").attributeNames()
            _ = try d.attributeNames()
            _ = try file.exists("g/d/x")
            _ = try file.kind(of: "g")
            _ = try? file.openDataset("missing")
            _ = try? d.readRows(3..<9, as: Float.self)
            _ = try? file.int64Attribute("s")
            _ = try? file.createGroup("g")
            try d.close()
            try file.close()
        }
        let file = try HDF5File.open(path)
        _ = try file.stringAttribute("s")
        _ = try file.openDataset("g/d").read(as: Int64.self)
        _ = try? HDF5File.open(dir + "/missing.h5")
        try? HDF5File.writeAtomically(to: dir + "/a\(round).h5") { _ in throw CancellationError() }
    }

    @Test("no HDF5 identifier outlives the objects that own it, on success and on failure")
    func noLeaks() throws {
        try withTemporaryDirectory { dir in
            // Hold the library lock throughout so that other tests cannot change the counts.
            try HDF5Lock.sync {
                try Self.exercise(dir, 0)  // warm-up: the library registers some identifiers lazily
                let before = Probe()
                for round in 1...3 { try Self.exercise(dir, round) }
                let after = Probe()
                #expect(after.dataspace - before.dataspace > 30, "the exercise creates dataspaces")
                #expect(after.stillOpen(since: before) == ["dataspace": 0, "property list": 0, "datatype": 0, "file objects": 0])
            }
        }
    }

    @Test("a float16 dataset (h5py's float16 layout) reads into Float and Float16; its type reports float16")
    func float16() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/h.h5"
            let values: [Float] = [0, -0.5, 1.25, 3, -2048, 0.125, 65504]  // exact in binary16
            try HDF5File.create(path).close()
            HDF5Lock.sync {
                let file = H5Fopen(path, mf_h5f_acc_rdwr(), hid_t(H5P_DEFAULT))
                let type = H5Tcopy(mf_h5t_ieee_f32le())
                H5Tset_fields(type, 15, 10, 5, 0, 10)
                H5Tset_size(type, 2)
                H5Tset_ebias(type, 15)
                var dims = [hsize_t(values.count)]
                let space = H5Screate_simple(1, &dims, nil)
                let dataset = H5Dcreate2(file, "half", type, space, hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT))
                H5Dwrite(dataset, mf_h5t_native_float(), hid_t(H5S_ALL), hid_t(H5S_ALL), hid_t(H5P_DEFAULT), values)
                H5Dclose(dataset); H5Sclose(space); H5Tclose(type); H5Fclose(file)
            }
            let d = try HDF5File.open(path).openDataset("half")
            #expect(d.elementType == HDF5ElementType(kind: .float, size: 2))
            #expect(d.elementType.scalarType == .float16)
            #expect(try d.read(as: Float.self) == values)
            #expect(try d.read(as: Float16.self) == values.map { Float16($0) }, "HDF5Kit's half type is h5py's: read without conversion")
        }
    }
}
