import CHDF5

/// The numeric element types HDF5Kit creates datasets and attributes of. Stored little-endian
/// (IEEE / two's complement), which is what h5py and PyTorch users write on x86 and ARM.
public enum HDF5ScalarType: Sendable, Equatable, CustomStringConvertible {
    case float16, float32, float64, int32, int64

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .float16: 2
        case .float32, .int32: 4
        case .float64, .int64: 8
        }
    }

    public var description: String {
        switch self {
        case .float16: "float16"
        case .float32: "float32"
        case .float64: "float64"
        case .int32: "int32"
        case .int64: "int64"
        }
    }

    /// The type written to files (a predefined HDF5 type: never closed).
    var fileType: hid_t {
        switch self {
        case .float16: HalfType.id
        case .float32: mf_h5t_ieee_f32le()
        case .float64: mf_h5t_ieee_f64le()
        case .int32: mf_h5t_std_i32le()
        case .int64: mf_h5t_std_i64le()
        }
    }

    /// The matching native type for memory buffers (predefined: never closed). Passing it to
    /// H5Dread makes HDF5 convert whatever the file holds (e.g. float64 → float32).
    var memoryType: hid_t {
        switch self {
        case .float16: HalfType.id  // little-endian IEEE half is also the native layout of the hosts we run on
        case .float32: mf_h5t_native_float()
        case .float64: mf_h5t_native_double()
        case .int32: mf_h5t_native_int32()
        case .int64: mf_h5t_native_int64()
        }
    }
}

/// A Swift element type that HDF5Kit reads and writes directly from and to memory:
/// `Float`, `Double`, `Int32`, `Int64`. Reads convert from any numeric file type to `Self`
/// (HDF5's conversion: rounding for float64 → float32, clamping for out-of-range integers).
public protocol HDF5Scalar: Sendable {
    /// The HDF5 type that holds values of this Swift type without loss.
    static var hdf5Type: HDF5ScalarType { get }
}

extension Float: HDF5Scalar { public static var hdf5Type: HDF5ScalarType { .float32 } }
/// Half precision (IEEE binary16) as stored bits: CLIP token files keep the fp16 values the
/// official CLIP computes (exact), at half the bytes; readers widen them with a vector kernel.
extension Float16: HDF5Scalar { public static var hdf5Type: HDF5ScalarType { .float16 } }
extension Double: HDF5Scalar { public static var hdf5Type: HDF5ScalarType { .float64 } }
extension Int32: HDF5Scalar { public static var hdf5Type: HDF5ScalarType { .int32 } }
extension Int64: HDF5Scalar { public static var hdf5Type: HDF5ScalarType { .int64 } }

/// What a stored dataset or attribute holds, as found in the file.
public struct HDF5ElementType: Sendable, Equatable, CustomStringConvertible {
    /// The HDF5 type class, reduced to what this project distinguishes.
    public enum Kind: Sendable, Equatable {
        case float
        case integer(signed: Bool)
        /// Text: variable-length (h5py's `str`) or fixed-length (`S10`, NumPy bytes).
        case string(variableLength: Bool)
        /// Anything else (compound, enum, array, reference, …), with the raw `H5T_class_t`.
        case other(Int32)
    }

    public let kind: Kind
    /// Bytes per element in the file. For a variable-length string this is the size of the
    /// in-memory pointer, not of the text.
    public let size: Int

    public init(kind: Kind, size: Int) {
        self.kind = kind
        self.size = size
    }

    /// The numeric type with the same class and size, if there is one (e.g. float 8 → float64).
    public var scalarType: HDF5ScalarType? {
        switch (kind, size) {
        case (.float, 2): .float16
        case (.float, 4): .float32
        case (.float, 8): .float64
        case (.integer(signed: true), 4): .int32
        case (.integer(signed: true), 8): .int64
        default: nil
        }
    }

    public var isNumeric: Bool {
        switch kind {
        case .float, .integer: true
        default: false
        }
    }

    public var isString: Bool {
        if case .string = kind { return true }
        return false
    }

    public var description: String {
        switch kind {
        case .float: "float\(size * 8)"
        case .integer(let signed): "\(signed ? "int" : "uint")\(size * 8)"
        case .string(true): "variable-length string"
        case .string(false): "fixed-length string (\(size) bytes)"
        case .other(let raw): "unsupported HDF5 type class \(raw) (\(size) bytes)"
        }
    }

    /// Describes the HDF5 datatype `type` (caller keeps ownership of `type`).
    static func describe(_ type: hid_t, object: @autoclosure () -> String) throws -> HDF5ElementType {
        let typeClass = H5Tget_class(type)
        try check(typeClass.rawValue, "H5Tget_class", object())
        let size = H5Tget_size(type)
        try check(size == 0 ? -1 : 0, "H5Tget_size", object())  // size_t: 0 means failure
        switch typeClass {
        case H5T_FLOAT:
            return HDF5ElementType(kind: .float, size: size)
        case H5T_INTEGER:
            let sign = H5Tget_sign(type)
            try check(sign.rawValue, "H5Tget_sign", object())
            return HDF5ElementType(kind: .integer(signed: sign == H5T_SGN_2), size: size)
        case H5T_STRING:
            let variable = try checkBool(H5Tis_variable_str(type), "H5Tis_variable_str", object())
            return HDF5ElementType(kind: .string(variableLength: variable), size: size)
        default:
            return HDF5ElementType(kind: .other(Int32(typeClass.rawValue)), size: size)
        }
    }
}

/// The IEEE binary16 little-endian datatype. HDF5 1.10 predefines no half type; this is the one
/// h5py and NumPy write for `float16` (sign bit 15, exponent bits 10–14 with bias 15, mantissa
/// bits 0–9), so files from either side read without conversion.
enum HalfType {
    /// Created once and never closed.
    static let id: hid_t = HDF5Lock.sync {
        let type = H5Tcopy(mf_h5t_ieee_f32le())
        // Fields first (they fit in the 32-bit copy), then shrink: HDF5 lowers the precision to
        // the new 16 bits, which the fields already fit.
        _ = H5Tset_fields(type, 15, 10, 5, 0, 10)
        _ = H5Tset_size(type, 2)
        _ = H5Tset_ebias(type, 15)
        return type
    }
}
