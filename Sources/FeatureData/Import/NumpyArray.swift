import InputFiles

/// One array in NumPy's `.npy` format (what `numpy.save` writes), parsed from its bytes:
///
///     "\x93NUMPY", major, minor        version 1.0 (header length: uint16 LE) or 2.0 / 3.0 (uint32 LE)
///     header                           a Python dict literal, space-padded, ending in "\n":
///                                      {'descr': '<f4', 'fortran_order': False, 'shape': (T, D), }
///     data                             ∏shape elements, C order (row-major) or Fortran order
///
/// The header is parsed as data (never evaluated). Read: little-endian floats `<f2`, `<f4`,
/// `<f8`, in either order; anything else (integers, big-endian, objects, structured types) is
/// refused naming the dtype.
public struct NumpyArray: Sendable {
    /// The element types read.
    public enum Element: String, Sendable {
        case float16 = "<f2", float32 = "<f4", float64 = "<f8"

        public var size: Int {
            switch self {
            case .float16: 2
            case .float32: 4
            case .float64: 8
            }
        }
    }

    public let element: Element
    public let fortranOrder: Bool
    public let shape: [Int]
    /// Byte offset of the data from the start of the `.npy` bytes.
    public let dataOffset: Int

    public var count: Int { shape.reduce(1, *) }
    public var dataBytes: Int { count * element.size }

    /// The first bytes of any `.npy`: enough to hold every header `numpy.save` writes for a
    /// 2-D array (it pads headers to 64 or 128 bytes).
    public static let prefixBytes = 4096

    /// Parses the header at the start of `bytes` (which may hold only a prefix of the file).
    /// Errors name `file` and `item`.
    public static func parseHeader(_ bytes: UnsafeRawBufferPointer, file: String, item: String?) throws -> NumpyArray {
        func fail(_ problem: String) -> FeatureDataError { FeatureDataError(file: file, item: item, problem) }
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY
        guard bytes.count >= 10, zip(bytes.prefix(6), magic).allSatisfy({ $0 == $1 }) else {
            throw fail("not a NumPy .npy array (no \\x93NUMPY signature)")
        }
        let major = bytes[6]
        let (lengthBytes, length): (Int, Int)
        switch major {
        case 1: (lengthBytes, length) = (2, Int(bytes[8]) | Int(bytes[9]) << 8)
        case 2, 3:
            guard bytes.count >= 12 else { throw fail("truncated .npy header") }
            (lengthBytes, length) = (4, (0..<4).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) })
        default: throw fail(".npy format version \(major).\(bytes[7]) is not read (1.0, 2.0 and 3.0 are)")
        }
        let start = 8 + lengthBytes
        guard length <= prefixBytes, start + length <= bytes.count else {
            throw fail(".npy header of \(length) bytes is truncated or longer than the \(prefixBytes) read")
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<(start + length)]), as: UTF8.self)
        var parser = PythonDictParser(text: text)
        let fields: [String: PythonDictParser.Value]
        do { fields = try parser.parseDictionary() } catch let problem as PythonDictParser.Problem {
            throw fail("malformed .npy header \(Excerpt.quote(String(text.prefix { $0 != "\n" }))): \(problem.text)")
        }
        guard case .string(let descr)? = fields["descr"], case .bool(let fortran)? = fields["fortran_order"],
              case .tuple(let shape)? = fields["shape"] else {
            throw fail("malformed .npy header: it needs 'descr' (a string), 'fortran_order' (True/False) and 'shape' (a tuple)")
        }
        guard let element = Element(rawValue: descr == "|f2" ? "<f2" : descr) else {
            throw fail("dtype \(Excerpt.quote(descr)) is not read: features must be little-endian float16, float32 or float64 (<f2, <f4, <f8)")
        }
        guard shape.allSatisfy({ $0 >= 0 && $0 <= FeatureLimits.maximumRows }) else {
            throw fail("shape \(shape) has an extent beyond \(FeatureLimits.maximumRows)")
        }
        return NumpyArray(element: element, fortranOrder: fortran, shape: shape, dataOffset: start + length)
    }

    /// The values (row-major, whatever the stored order) of a 2-D or 1-D array from the
    /// complete `.npy` bytes, as float32 (`.float32`: float16 widened exactly, float64 rounded)
    /// or, for float64 data with `keepDouble`, as float64.
    func values(from bytes: UnsafeRawBufferPointer, keepDouble: Bool, file: String, item: String?) throws -> TokenValues {
        guard bytes.count >= dataOffset + dataBytes else {
            throw FeatureDataError(file: file, item: item, "truncated .npy data: \(bytes.count - dataOffset) bytes for shape \(shape) of \(element.rawValue) (\(dataBytes) expected)")
        }
        let data = UnsafeRawBufferPointer(rebasing: bytes[dataOffset..<(dataOffset + dataBytes)])
        let rows = shape.count == 2 ? shape[0] : 1
        let columns = shape.count == 2 ? shape[1] : count
        // Element i of the result is stored at index(i) in the file.
        let transposed = fortranOrder && shape.count == 2
        @inline(__always) func index(_ i: Int) -> Int { transposed ? (i % columns) * rows + i / columns : i }
        switch element {
        case .float64 where keepDouble:
            return .float64((0..<count).map { Double(bitPattern: UInt64(littleEndian: data.loadUnaligned(fromByteOffset: 8 * index($0), as: UInt64.self))) })
        case .float64:
            return .float32((0..<count).map { Float(Double(bitPattern: UInt64(littleEndian: data.loadUnaligned(fromByteOffset: 8 * index($0), as: UInt64.self)))) })
        case .float32:
            if !transposed {
                return .float32([Float](unsafeUninitializedCapacity: count) { buffer, initialised in
                    for i in 0..<count { buffer[i] = Float(bitPattern: UInt32(littleEndian: data.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
                    initialised = count
                })
            }
            return .float32((0..<count).map { Float(bitPattern: UInt32(littleEndian: data.loadUnaligned(fromByteOffset: 4 * index($0), as: UInt32.self))) })
        case .float16:
            return .float32((0..<count).map { Float(Float16(bitPattern: UInt16(littleEndian: data.loadUnaligned(fromByteOffset: 2 * index($0), as: UInt16.self)))) })
        }
    }
}

/// The subset of Python literal syntax in `.npy` headers: a dict of string keys to strings,
/// True/False and tuples of integers.
struct PythonDictParser {
    enum Value: Equatable {
        case string(String), bool(Bool), tuple([Int])
    }

    struct Problem: Error {
        let text: String
    }

    private let scalars: [Unicode.Scalar]
    private var i = 0

    init(text: String) { scalars = Array(text.unicodeScalars) }

    private mutating func skipSpace() { while i < scalars.count && (scalars[i] == " " || scalars[i] == "\n" || scalars[i] == "\t") { i += 1 } }

    private mutating func expect(_ c: Unicode.Scalar) throws {
        skipSpace()
        guard i < scalars.count, scalars[i] == c else { throw Problem(text: "expected '\(c)' at character \(i + 1)") }
        i += 1
    }

    private mutating func peek() -> Unicode.Scalar? {
        skipSpace()
        return i < scalars.count ? scalars[i] : nil
    }

    mutating func parseDictionary() throws -> [String: Value] {
        try expect("{")
        var out: [String: Value] = [:]
        while peek() != "}" {
            let key = try parseString()
            try expect(":")
            out[key] = try parseValue()
            if peek() == "," { i += 1 } else { break }
        }
        try expect("}")
        skipSpace()
        guard i == scalars.count else { throw Problem(text: "text after the closing '}'") }
        return out
    }

    private mutating func parseString() throws -> String {
        guard let quote = peek(), quote == "'" || quote == "\"" else { throw Problem(text: "expected a quoted string at character \(i + 1)") }
        i += 1
        var out = String.UnicodeScalarView()
        while i < scalars.count && scalars[i] != quote {
            guard scalars[i] != "\\" else { throw Problem(text: "escapes are not expected in a .npy header") }
            out.append(scalars[i])
            i += 1
        }
        guard i < scalars.count else { throw Problem(text: "unterminated string") }
        i += 1
        return String(out)
    }

    private mutating func parseValue() throws -> Value {
        switch peek() {
        case "'", "\"": return .string(try parseString())
        case "(":
            i += 1
            var values: [Int] = []
            while peek() != ")" {
                var digits = ""
                while i < scalars.count, ("0"..."9").contains(scalars[i]) { digits.unicodeScalars.append(scalars[i]); i += 1 }
                if peek() == "L" { i += 1 }  // Python 2 long literals
                guard let n = Int(digits) else { throw Problem(text: "expected a non-negative integer in the shape at character \(i + 1)") }
                values.append(n)
                if peek() == "," { i += 1 } else { break }
            }
            try expect(")")
            return .tuple(values)
        default:
            for (word, value) in [("True", true), ("False", false)] where scalars[i...].starts(with: word.unicodeScalars) {
                i += word.unicodeScalars.count
                return .bool(value)
            }
            throw Problem(text: "unexpected value at character \(i + 1)")
        }
    }
}
