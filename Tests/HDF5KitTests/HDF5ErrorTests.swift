import Foundation
import Testing
@testable import HDF5Kit

struct HDF5ErrorTests {
    @Test("opening a missing file throws an error naming the file")
    func missingFile() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/absent.h5"
            let error = #expect(throws: HDF5Error.self) { try HDF5File.open(path) }
            #expect(error?.object == path)
            #expect(error?.rank == 0)
            #expect(error?.description.contains(path) == true)
            #expect(error?.message.contains("No such file") == true)
        }
    }

    @Test("opening a text file throws 'not an HDF5 file' naming the file")
    func notHDF5() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/notes.h5"
            try "cap_id sentence\nthis is not HDF5\n".write(toFile: path, atomically: false, encoding: .utf8)
            let error = #expect(throws: HDF5Error.self) { try HDF5File.open(path) }
            #expect(error?.description.contains(path) == true)
            #expect(error?.message.contains("not an HDF5 file") == true)
            #expect(!HDF5File.isHDF5(path))
        }
    }

    @Test("opening a truncated HDF5 file throws an error naming the file and HDF5's reason")
    func truncated() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/cut.h5"
            do {
                let file = try HDF5File.create(path)
                try file.createDataset("frames", values: (0..<4096).map { Float($0) }, shape: [512, 8])
                try file.setAttribute("format", .string("packed"))
            }
            let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            try handle.truncate(atOffset: UInt64(size / 2))
            try handle.close()
            let error = #expect(throws: HDF5Error.self) { try HDF5File.open(path) }
            #expect(error?.call == "H5Fopen")
            #expect(error?.description.contains(path) == true)
            #expect(error?.message.contains("truncated") == true, "\(String(describing: error))")
        }
    }

    @Test("reading a missing dataset throws an error naming the file and the dataset path")
    func missingDataset() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/d.h5"
            try HDF5File.create(path).createGroup("queries")
            let file = try HDF5File.open(path)
            let error = #expect(throws: HDF5Error.self) { try file.readDataset("queries/features", as: Float.self) }
            #expect(error?.call == "H5Dopen2")
            #expect(error?.object == path + ":/queries/features")
            #expect(error?.description.contains(path + ":/queries/features") == true)
            #expect(error?.message.isEmpty == false)  // HDF5's own reason, from its error stack
            let group = try file.openGroup("queries")
            let nested = #expect(throws: HDF5Error.self) { try group.openDataset("offsets") }
            #expect(nested?.object == path + ":/queries/offsets")
        }
    }

    @Test("creating a file in a missing directory throws naming the file")
    func createInMissingDirectory() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/no/such/dir/x.h5"
            let error = #expect(throws: HDF5Error.self) { try HDF5File.create(path) }
            #expect(error?.call == "H5Fcreate")
            #expect(error?.description.contains(path) == true)
        }
    }

    @Test("a failed call leaves no stale error stack: the next failure reports only its own cause")
    func errorStackIsCleared() throws {
        try withTemporaryDirectory { dir in
            let file = try HDF5File.create(dir + "/e.h5")
            _ = try? file.openDataset("first")
            let second = #expect(throws: HDF5Error.self) { try file.openGroup("second") }
            #expect(second?.message.contains("first") == false)
        }
    }
}
