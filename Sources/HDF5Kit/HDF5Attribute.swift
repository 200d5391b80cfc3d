/// The value of an attribute: the kinds of metadata this project stores (format names,
/// dimensions, hyper-parameters, small vectors).
///
/// Stored as: `string` → variable-length UTF-8 scalar (as h5py writes `str`); `int64` →
/// int64 scalar; `double` → float64 scalar; arrays → 1-D float32 / float64 / int64.
/// Read back from any file: a scalar integer of any width becomes `int64`, a scalar float
/// becomes `double`, a 1-D float array becomes `floats` (4-byte) or `doubles` (8-byte), a 1-D
/// integer array becomes `int64s`, and a scalar or one-element string (variable- or
/// fixed-length) becomes `string`.
public enum HDF5AttributeValue: Sendable, Equatable, CustomStringConvertible {
    case string(String)
    case int64(Int64)
    case double(Double)
    case floats([Float])
    case doubles([Double])
    case int64s([Int64])

    public var description: String {
        switch self {
        case .string(let s): "\"\(s)\""
        case .int64(let v): "\(v)"
        case .double(let v): "\(v)"
        case .floats(let v): "\(v)"
        case .doubles(let v): "\(v)"
        case .int64s(let v): "\(v)"
        }
    }
}
