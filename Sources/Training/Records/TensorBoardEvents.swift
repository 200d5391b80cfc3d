import Foundation

/// A TensorBoard event file of scalars (`events.out.tfevents.<time>.<host>`), written the way
/// TensorFlow's summary writer writes it, so that `tensorboard --logdir RUN_DIR` shows a run's
/// loss terms, learning rate, step times and validation R@K/SumR — where users of the reference
/// implementation look for them.
///
/// The file is a sequence of records: `length` (UInt64, little-endian), the masked CRC-32C of
/// those 8 bytes, `length` bytes of a serialised `Event` protocol buffer, and its masked CRC-32C.
/// The first event carries `file_version = "brain.Event:2"`; each later one a wall time, a step
/// and a `Summary` of scalar values (tag, simple_value). The few protocol-buffer fields needed are
/// encoded here by hand (event.proto: wall_time 1 double, step 2 int64, file_version 3 string,
/// summary 5; summary.proto: value 1; Value: tag 1 string, simple_value 2 float).
public final class TensorBoardEvents {
    public let path: String
    private let handle: FileHandle

    /// Creates a new event file in `directory` (a new file per writer: TensorBoard reads every
    /// event file of a run directory, so a resumed run appends by adding one).
    public init(directory: String, wallTime: Double = Date().timeIntervalSince1970) throws {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "localhost"
        path = "\(directory)/events.out.tfevents.\(Int(wallTime)).\(host).\(getpid()).mamfusion"
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw TensorBoardError.cannotCreate(path)
        }
        self.handle = handle
        var event = ProtocolBuffer()
        event.double(field: 1, wallTime)
        event.string(field: 3, "brain.Event:2")
        try write(record: event.bytes)
    }

    /// Appends one event holding `scalars` (tag → value) at `step`.
    public func add(scalars: [(tag: String, value: Double)], step: Int, wallTime: Double = Date().timeIntervalSince1970) throws {
        var summary = ProtocolBuffer()
        for (tag, value) in scalars {
            var entry = ProtocolBuffer()
            entry.string(field: 1, tag)
            entry.float(field: 2, Float(value))
            summary.message(field: 1, entry)
        }
        var event = ProtocolBuffer()
        event.double(field: 1, wallTime)
        event.varint(field: 2, UInt64(bitPattern: Int64(step)))
        event.message(field: 5, summary)
        try write(record: event.bytes)
    }

    private func write(record data: [UInt8]) throws {
        var out: [UInt8] = []
        var length = UInt64(data.count).littleEndian
        let lengthBytes = withUnsafeBytes(of: &length) { Array($0) }
        out += lengthBytes
        out += Self.littleEndian(Self.maskedCRC(lengthBytes))
        out += data
        out += Self.littleEndian(Self.maskedCRC(data))
        do { try handle.write(contentsOf: Data(out)) } catch { throw TensorBoardError.cannotWrite(path, "\(error)") }
    }

    deinit { try? handle.close() }

    // MARK: - CRC-32C (Castagnoli), as TFRecord masks it

    static let crcTable: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        return c
    }

    /// CRC-32C of `bytes`.
    public static func crc32c(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = crcTable[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }

    /// TFRecord's mask: ((crc >> 15) | (crc << 17)) + 0xa282ead8.
    public static func maskedCRC(_ bytes: [UInt8]) -> UInt32 {
        let c = crc32c(bytes)
        return ((c >> 15) | (c << 17)) &+ 0xA282_EAD8
    }

    static func littleEndian(_ x: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: x >> (8 * $0)) } }
}

/// Why an event file could not be written.
public enum TensorBoardError: Error, CustomStringConvertible {
    case cannotCreate(String)
    case cannotWrite(String, String)
    public var description: String {
        switch self {
        case .cannotCreate(let path): return "cannot create the TensorBoard event file \(path)"
        case .cannotWrite(let path, let why): return "cannot write the TensorBoard event file \(path): \(why)"
        }
    }
}

/// The few protocol-buffer wire encodings an event needs.
struct ProtocolBuffer {
    private(set) var bytes: [UInt8] = []

    private mutating func raw(varint value: UInt64) {
        var v = value
        while v >= 0x80 { bytes.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
        bytes.append(UInt8(v))
    }
    private mutating func key(_ field: Int, wireType: UInt64) { raw(varint: UInt64(field) << 3 | wireType) }

    mutating func varint(field: Int, _ value: UInt64) { key(field, wireType: 0); raw(varint: value) }
    mutating func double(field: Int, _ value: Double) {
        key(field, wireType: 1)
        bytes += (0..<8).map { UInt8(truncatingIfNeeded: value.bitPattern >> (8 * UInt64($0))) }
    }
    mutating func float(field: Int, _ value: Float) {
        key(field, wireType: 5)
        bytes += (0..<4).map { UInt8(truncatingIfNeeded: value.bitPattern >> (8 * UInt32($0))) }
    }
    mutating func string(field: Int, _ value: String) { bytesField(field, Array(value.utf8)) }
    mutating func message(field: Int, _ value: ProtocolBuffer) { bytesField(field, value.bytes) }
    private mutating func bytesField(_ field: Int, _ value: [UInt8]) {
        key(field, wireType: 2)
        raw(varint: UInt64(value.count))
        bytes += value
    }
}
