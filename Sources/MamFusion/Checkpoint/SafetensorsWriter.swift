#if canImport(Glibc)
import Glibc
#endif
import InputFiles
import TensorKit

/// Writes the safetensors format (the Hugging Face tensor file that PyTorch, JAX, NumPy and
/// most model hubs read) natively, with no Python:
///
///     bytes 0..<8        N, the header length, unsigned 64-bit little-endian
///     bytes 8..<8+N      the header: UTF-8 JSON, padded with spaces so that 8 + N is a multiple of 8
///                        {"__metadata__": {string: string},
///                         "<name>": {"dtype": "F32", "shape": [d0, d1, …], "data_offsets": [begin, end]}, …}
///     bytes 8+N..<end    the data: every tensor's values, row-major, little-endian, back to back;
///                        `data_offsets` are byte offsets into this part (end − begin = 4·∏shape)
///
/// Tensors are written in the order given (for a checkpoint: the reference `state_dict` order,
/// PARAMETERS.md), contiguously from offset 0 with no gap or overlap — what the reference reader
/// (`safetensors.safe_open`) checks. The file is written to `path + ".tmp"` and published
/// atomically (`AtomicPublish`): `path` holds the old file or the complete new one.
public enum SafetensorsWriter {
    /// One float32 tensor: its name, shape and `∏shape` values (the caller's memory, read
    /// during `write` only).
    public struct Entry {
        public let name: String
        public let shape: [Int]
        public let values: UnsafeBufferPointer<Float>

        public init(name: String, shape: [Int], values: UnsafeBufferPointer<Float>) {
            self.name = name
            self.shape = shape
            self.values = values
        }
    }

    /// Why a file could not be written: the path and the reason.
    public struct WriteError: Error, CustomStringConvertible {
        public let path: String
        public let reason: String
        public var description: String { "\(path): \(reason)" }
    }

    /// Where one tensor's bytes are in the data part (what `data_offsets` says).
    public struct Placement: Sendable, Equatable {
        public let name: String
        public let shape: [Int]
        public let byteRange: Range<Int>
    }

    /// The header bytes (length prefix included, padded) and where each tensor goes.
    public static func header(for entries: [Entry], metadata: [String: String]) throws -> (bytes: [UInt8], placements: [Placement]) {
        var placements: [Placement] = []
        var offset = 0
        var seen = Set<String>()
        for entry in entries {
            guard entry.name != "__metadata__", seen.insert(entry.name).inserted else {
                throw WriteError(path: entry.name, reason: "duplicate or reserved tensor name")
            }
            let count = entry.shape.reduce(1, *)
            guard count == entry.values.count else {
                throw WriteError(path: entry.name, reason: "\(entry.values.count) values for shape \(entry.shape)")
            }
            placements.append(Placement(name: entry.name, shape: entry.shape, byteRange: offset..<offset + 4 * count))
            offset += 4 * count
        }
        var json = "{\"__metadata__\":{"
        json += metadata.keys.sorted().map { QuotedString.json($0) + ":" + QuotedString.json(metadata[$0]!) }.joined(separator: ",")
        json += "}"
        for p in placements {
            json += "," + QuotedString.json(p.name) + ":{\"dtype\":\"F32\",\"shape\":["
            json += p.shape.map(String.init).joined(separator: ",")
            json += "],\"data_offsets\":[\(p.byteRange.lowerBound),\(p.byteRange.upperBound)]}"
        }
        json += "}"
        var text = Array(json.utf8)
        // The data part starts 8-byte aligned, as the reference writer pads it.
        while (8 + text.count) % 8 != 0 { text.append(0x20) }
        var length = UInt64(text.count).littleEndian
        let prefix = withUnsafeBytes(of: &length) { Array($0) }
        return (prefix + text, placements)
    }

    /// Where the tensors of a written file are: the data part starts at byte `dataStart`.
    public struct Contents: Sendable {
        public let dataStart: Int
        public let placements: [Placement]
    }

    /// Writes `entries` with `metadata` to `path` (atomically). Returns where everything went.
    @discardableResult
    public static func write(_ entries: [Entry], metadata: [String: String], to path: String) throws -> Contents {
        let (header, placements) = try header(for: entries, metadata: metadata)
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw WriteError(path: temporary, reason: "cannot create: \(InputFile.errorText(errno))") }
        func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
            var done = 0
            while done < bytes.count {
                let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw WriteError(path: temporary, reason: "write failed: \(InputFile.errorText(errno))") }
                done += n
            }
        }
        do {
            try header.withUnsafeBytes { try writeAll($0) }
            for entry in entries where entry.values.count > 0 {
                #if _endian(big)
                let swapped = entry.values.map { $0.bitPattern.littleEndian }
                try swapped.withUnsafeBytes { try writeAll($0) }
                #else
                try writeAll(UnsafeRawBufferPointer(entry.values))
                #endif
            }
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        guard close(fd) == 0 else {
            unlink(temporary)
            throw WriteError(path: temporary, reason: "close failed: \(InputFile.errorText(errno))")
        }
        do { try AtomicPublish.publish(temporary, as: path) } catch {
            throw WriteError(path: path, reason: error.description)
        }
        return Contents(dataStart: header.count, placements: placements)
    }
}
