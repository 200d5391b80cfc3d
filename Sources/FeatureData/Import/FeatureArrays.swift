#if canImport(Glibc)
import Glibc
#endif
import Foundation
import HDF5Kit
import InputFiles

/// The per-item arrays of an import — one video's frame features or one caption's token
/// features each — from a directory of NumPy files (`<id>.npy` or `<id>.npz`) or from one HDF5
/// file with a root-level dataset per id (the layout of the release's query-feature file).
///
/// Opening lists the ids only; `header` reads an array's shape and type (for a `.npy`, its
/// first 4 KiB), `values` the whole array. An `.npz` holds several arrays: the one named by
/// `npzKey`, or its only array. Every error names the file and the id.
public final class FeatureArrays {
    /// What the arrays are, for messages ("video features").
    public let role: String
    /// The directory or HDF5 file.
    public let path: String
    /// Ids given by more than one file (`a.npy` and `a.npz`): id → file names.
    public let duplicates: [String: [String]]
    /// Directory entries that are neither `.npy` nor `.npz`, and HDF5 members that are not datasets.
    public let ignored: [String]
    /// Every id, in listing order, compactly: an import of 100,000 videos holds hundreds of
    /// thousands of ids.
    private let table: IDTable
    /// Whether the file of id i is an `.npz` (else `.npy`; nothing for HDF5).
    private let isArchive: [Bool]
    private let hdf5: HDF5File?
    private let npzKey: String?

    /// How many ids there are.
    public var count: Int { table.count }

    /// Calls `body` with every id, in listing order.
    public func forEachID(_ body: (String) throws -> Void) rethrows {
        for i in 0..<table.count { try body(table[i]) }
    }

    /// The largest array file read: 16 GiB.
    public static let maximumFileBytes = 1 << 34

    public init(path: String, role: String, npzKey: String? = nil) throws {
        self.role = role
        self.path = path
        self.npzKey = npzKey
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw FeatureDataError(file: path, "missing file or directory (\(role): a directory of .npy/.npz files or an HDF5 file)")
        }
        var table = IDTable(), isArchive: [Bool] = [], duplicates: [String: [String]] = [:], ignored: [String] = []
        // One id per name; an id with both files is a duplicate (its `.npy` is the one read).
        func add(_ id: String, archive: Bool) {
            let (index, inserted) = table.insert(id)
            if inserted {
                isArchive.append(archive)
            } else {
                duplicates[id] = [id + ".npy", id + ".npz"]
                isArchive[index] = false
            }
        }
        if isDirectory.boolValue {
            hdf5 = nil
            try Self.forEachDirectoryEntry(path) { name in
                guard name.hasSuffix(".npy") || name.hasSuffix(".npz"), name.count > 4 else {
                    ignored.append(name)
                    return
                }
                add(String(name.dropLast(4)), archive: name.hasSuffix(".npz"))
            }
            ignored.sort()
        } else {
            try FileBytes.converting { try InputFile.requireRegularFile(path) }
            let file = try withFileContext(path) { try HDF5File.open(path) }
            for name in try withFileContext(path, { try file.memberNames() }) {
                if try withFileContext(path, { try file.kind(of: name) }) == .dataset { add(name, archive: false) } else { ignored.append(name) }
            }
            hdf5 = file
        }
        self.table = table
        self.isArchive = isArchive
        self.duplicates = duplicates
        self.ignored = ignored
    }

    /// Calls `body` with each name in directory `path` (readdir, streamed: no array of
    /// 300,000 names).
    static func forEachDirectoryEntry(_ path: String, _ body: (String) throws -> Void) throws {
        guard let directory = opendir(path) else {
            throw FeatureDataError(file: path, "cannot list the directory: \(InputFile.errorText(errno))")
        }
        defer { closedir(directory) }
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { try body(name) }
        }
    }

    public func contains(_ id: String) -> Bool { table.index(of: id) != nil }

    /// Where `id` is read from: its file, or the HDF5 file.
    public func location(_ id: String) -> String {
        guard hdf5 == nil else { return path }
        return "\(path)/\(id)" + (table.index(of: id).map { isArchive[$0] } == true ? ".npz" : ".npy")
    }

    /// The array's shape and element type.
    public func header(_ id: String) throws -> (shape: [Int], element: NumpyArray.Element) {
        let file = location(id)
        let item = "\(role) of \(Excerpt.quote(id))"
        if let hdf5 {
            return try withFileContext(file, item: item) {
                let dataset = try hdf5.openDataset(id)
                return (dataset.shape, try Self.element(dataset.elementType, file: file, item: item))
            }
        }
        if file.hasSuffix(".npz") {
            let header = try npz(file, item: item).header
            return (header.shape, header.element)
        }
        let prefix = try FileBytes.converting { () -> [UInt8] in
            let input = try InputFile(file, maximumBytes: Self.maximumFileBytes, what: "an array file")
            var bytes = [UInt8](repeating: 0, count: min(NumpyArray.prefixBytes, input.size))
            var filled = 0
            while filled < bytes.count {
                let n = try bytes.withUnsafeMutableBytes { try input.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[filled...])) }
                if n == 0 { break }
                filled += n
            }
            return Array(bytes[0..<filled])
        }
        let header = try prefix.withUnsafeBytes { try NumpyArray.parseHeader($0, file: file, item: item) }
        return (header.shape, header.element)
    }

    /// The array's values, row-major: float32 (float16 widened, float64 rounded), or float64
    /// as stored when `keepDouble`.
    public func values(_ id: String, keepDouble: Bool) throws -> TokenValues {
        let file = location(id)
        let item = "\(role) of \(Excerpt.quote(id))"
        if let hdf5 {
            return try withFileContext(file, item: item) {
                let dataset = try hdf5.openDataset(id)
                if keepDouble && dataset.elementType.size == 8 { return .float64(try dataset.read(as: Double.self)) }
                return .float32(try dataset.read(as: Float.self))
            }
        }
        let bytes: [UInt8]
        let header: NumpyArray
        if file.hasSuffix(".npz") {
            (header, bytes) = try npz(file, item: item)
        } else {
            bytes = try Self.readFile(file)
            header = try bytes.withUnsafeBytes { try NumpyArray.parseHeader($0, file: file, item: item) }
        }
        return try bytes.withUnsafeBytes { try header.values(from: $0, keepDouble: keepDouble, file: file, item: item) }
    }

    /// The chosen array of an `.npz` file: its header and its `.npy` bytes.
    private func npz(_ file: String, item: String) throws -> (header: NumpyArray, bytes: [UInt8]) {
        let archive = try NumpyZipArchive(bytes: try Self.readFile(file), file: file)
        let key: String
        if let npzKey {
            key = npzKey
        } else {
            guard archive.keys.count == 1 else {
                throw FeatureDataError(file: file, item: item, "the archive holds \(archive.keys.count) arrays (\(archive.keys.map { Excerpt.quote($0) }.joined(separator: ", "))): choose one with --npz-key")
            }
            key = archive.keys[0]
        }
        let bytes = try archive.npyBytes(key: key)
        return (try bytes.withUnsafeBytes { try NumpyArray.parseHeader($0, file: file, item: item) }, bytes)
    }

    /// Every byte of an array file (one read into an uninitialised buffer of the file's size).
    static func readFile(_ file: String) throws -> [UInt8] {
        try FileBytes.converting {
            let input = try InputFile(file, maximumBytes: maximumFileBytes, what: "an array file")
            let size = input.size
            let bytes = try [UInt8](unsafeUninitializedCapacity: size) { buffer, initialised in
                var filled = 0
                while filled < size {
                    let n = try input.read(into: UnsafeMutableRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(buffer)[filled...]))
                    if n == 0 { break }
                    filled += n
                }
                initialised = filled
            }
            guard bytes.count == size else { throw InputFileError(file: file, "shrank while being read (\(bytes.count) of \(size) bytes)") }
            return bytes
        }
    }

    /// The element type of an HDF5 dataset, if it is one of the float types read.
    static func element(_ type: HDF5ElementType, file: String, item: String) throws -> NumpyArray.Element {
        guard case .float = type.kind, let element = [2: NumpyArray.Element.float16, 4: .float32, 8: .float64][type.size] else {
            throw FeatureDataError(file: file, item: item, "stored as \(type): features must be float16, float32 or float64")
        }
        return element
    }
}
