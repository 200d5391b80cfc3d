import Foundation
import Testing
@testable import HDF5Kit

struct HDF5AtomicWriteTests {
    static func writeVersion(_ version: Int64, to path: String) throws {
        try HDF5File.writeAtomically(to: path) { file in
            try file.setAttribute("version", .int64(version))
            try file.createDataset("params/w", values: [Float](repeating: Float(version), count: 100), shape: [10, 10])
        }
    }

    @Test("a successful atomic write replaces the file and leaves no temporary file")
    func replaces() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/ckpt.h5"
            try Self.writeVersion(1, to: path)
            try Self.writeVersion(2, to: path)
            let file = try HDF5File.open(path)
            #expect(try file.int64Attribute("version") == 2)
            #expect(try file.readDataset("params/w", as: Float.self) == [Float](repeating: 2, count: 100))
            #expect(!FileManager.default.fileExists(atPath: path + ".tmp"))
            #expect(try HDF5File.writeAtomically(to: dir + "/other.h5") { _ in 17 } == 17)
        }
    }

    struct Interrupted: Error {}

    @Test("an atomic write that throws before the rename leaves the old file byte-for-byte intact")
    func failureKeepsOldFile() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/ckpt.h5"
            try Self.writeVersion(1, to: path)
            let before = try Data(contentsOf: URL(fileURLWithPath: path))
            #expect(throws: Interrupted.self) {
                try HDF5File.writeAtomically(to: path) { file in
                    try file.setAttribute("version", .int64(2))
                    try file.createDataset("params/w", type: .float32, shape: [10, 10])
                    throw Interrupted()
                }
            }
            // A body that keeps a dataset open past its end cannot be closed cleanly: no rename.
            var leaked: HDF5Dataset?
            #expect(throws: HDF5Error.self) {
                try HDF5File.writeAtomically(to: path) { file in
                    leaked = try file.createDataset("x", values: [Float(1)])
                }
            }
            withExtendedLifetime(leaked) {}
            leaked = nil
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
            #expect(!FileManager.default.fileExists(atPath: path + ".tmp"))
            #expect(try HDF5File.open(path).int64Attribute("version") == 1)
        }
    }
}
