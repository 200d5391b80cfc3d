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
/// Nothing is held per id: opening lists the directory (or the file's members) once, to count
/// the ids and find the ones given by two files; `contains` asks the file system (or the HDF5
/// file) for one id; `forEachID` lists again. `header` reads an array's shape and type (for a
/// `.npy`, its first 4 KiB), `values` the whole array. An `.npz` holds several arrays: the one
/// named by `npzKey`, or its only array. Every error names the file and the id.
public final class FeatureArrays {
    /// What the arrays are, for messages ("video features").
    public let role: String
    /// The directory or HDF5 file.
    public let path: String
    /// How many ids there are.
    public let count: Int
    /// Ids given by more than one file (`a.npy` and `a.npz`): id → file names. The `.npy` is
    /// the one read.
    public let duplicates: [String: [String]]
    /// Directory entries that are neither `.npy` nor `.npz`, and HDF5 members that are not datasets.
    public let ignored: [String]
    private let hdf5: HDF5File?
    private let npzKey: String?

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
        var count = 0, duplicates: [String: [String]] = [:], ignored: [String] = []
        if isDirectory.boolValue {
            hdf5 = nil
            try Self.forEachDirectoryEntry(path) { name in
                guard let id = Self.arrayID(name) else {
                    ignored.append(name)
                    return
                }
                // An id with both files is counted at its .npy.
                if name.hasSuffix(".npz") && Self.isEntry("\(path)/\(id).npy") {
                    duplicates[id] = [id + ".npy", id + ".npz"]
                } else {
                    count += 1
                }
            }
            ignored.sort()
        } else {
            try FileBytes.converting { try InputFile.requireRegularFile(path) }
            let file = try withFileContext(path) { try HDF5File.open(path) }
            for name in try withFileContext(path, { try file.memberNames() }) {
                if try withFileContext(path, { try file.kind(of: name) }) == .dataset { count += 1 } else { ignored.append(name) }
            }
            hdf5 = file
        }
        self.count = count
        self.duplicates = duplicates
        self.ignored = ignored
    }

    /// The id of a directory entry that is an array file (`<id>.npy`, `<id>.npz`).
    private static func arrayID(_ name: String) -> String? {
        name.count > 4 && (name.hasSuffix(".npy") || name.hasSuffix(".npz")) ? String(name.dropLast(4)) : nil
    }

    /// Whether `path` names a directory entry (of any kind: one that is not a regular file is
    /// reported when it is read).
    private static func isEntry(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    /// Calls `body` with every id, once each, in listing order (listed again: nothing is held).
    public func forEachID(_ body: (String) throws -> Void) throws {
        if let hdf5 {
            for name in try withFileContext(path, { try hdf5.memberNames() }) where try withFileContext(path, { try hdf5.kind(of: name) }) == .dataset {
                try body(name)
            }
            return
        }
        try Self.forEachDirectoryEntry(path) { name in
            guard let id = Self.arrayID(name), !(name.hasSuffix(".npz") && duplicates[id] != nil) else { return }
            try body(id)
        }
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

    /// Whether there is an array for `id`.
    public func contains(_ id: String) -> Bool {
        // An id names one file of the directory or one member of the HDF5 file's root.
        guard !id.isEmpty, id != ".", id != "..", !id.contains("/") else { return false }
        if let hdf5 { return (try? hdf5.kind(of: id)) == .dataset }
        return Self.isEntry("\(path)/\(id).npy") || Self.isEntry("\(path)/\(id).npz")
    }

    /// Where `id` is read from: its file (the `.npy` when there is one), or the HDF5 file.
    public func location(_ id: String) -> String {
        guard hdf5 == nil else { return path }
        let npy = "\(path)/\(id).npy"
        return Self.isEntry(npy) ? npy : "\(path)/\(id).npz"
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
