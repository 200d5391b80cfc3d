#if canImport(Glibc)
import Glibc
#endif

/// Appends bytes to a new file through a large buffer (feature.bin of a TVR-sized dataset is
/// many GB: it is streamed, never held). Errors name the file.
final class BufferedFileWriter {
    let path: String
    private var descriptor: Int32
    private var buffer: [UInt8] = []
    private let capacity: Int
    /// Bytes handed to the writer so far.
    private(set) var bytesWritten = 0

    /// Creates (truncates) `path`.
    init(path: String, capacity: Int = 8 << 20) throws {
        self.path = path
        self.capacity = capacity
        descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard descriptor >= 0 else { throw FeatureDataError(file: path, "cannot create: \(errorText(errno))") }
        buffer.reserveCapacity(capacity)
    }

    deinit { if descriptor >= 0 { Glibc.close(descriptor) } }

    func write(_ text: String) throws {
        var text = text
        try text.withUTF8 { try write(UnsafeRawBufferPointer($0)) }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        bytesWritten += bytes.count
        if buffer.count + bytes.count > capacity { try flush() }
        if bytes.count >= capacity {
            try writeAll(bytes)
        } else {
            buffer.append(contentsOf: bytes)
        }
    }

    /// Writes float32 values little-endian.
    func write(floats: UnsafeBufferPointer<Float>) throws {
        #if _endian(big)
        let swapped = floats.map { $0.bitPattern.littleEndian }
        try swapped.withUnsafeBytes { try write($0) }
        #else
        try write(UnsafeRawBufferPointer(floats))
        #endif
    }

    func flush() throws {
        guard !buffer.isEmpty else { return }
        try buffer.withUnsafeBytes { try writeAll($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(descriptor, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw FeatureDataError(file: path, "write failed: \(errorText(errno))")
            }
            done += n
        }
    }

    /// Flushes and closes the file.
    func close() throws {
        try flush()
        guard descriptor >= 0 else { return }
        let rc = Glibc.close(descriptor)
        descriptor = -1
        if rc != 0 { throw FeatureDataError(file: path, "close failed: \(errorText(errno))") }
    }
}

/// `mkdir -p`.
func makeDirectories(_ path: String) throws {
    var current = path.hasPrefix("/") ? "" : "."
    for component in path.split(separator: "/") {
        current += "/" + component
        if mkdir(current, 0o755) != 0 && errno != EEXIST {
            throw FeatureDataError(file: current, "cannot create directory: \(errorText(errno))")
        }
    }
    guard FileBytes.isDirectory(path) else { throw FeatureDataError(file: path, "not a directory") }
}
