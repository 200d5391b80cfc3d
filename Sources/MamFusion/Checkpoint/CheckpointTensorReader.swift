import HDF5Kit
import TensorKit

/// Reads one checkpoint tensor into its float32 parameter buffer, exactly or not at all.
///
/// The model computes in float32, and a checkpoint must load to the very values it holds:
/// - float32: read as is.
/// - float16 (and any float type narrower than 32 bits): every value is exact in float32;
///   converted, with a note.
/// - float64: converted, with a note, when every value round-trips (Double(Float(v)) == v);
///   otherwise refused, naming the first value that would be rounded — silently rounding a
///   double-precision model is a change of the model; cast it to float32 explicitly instead.
/// - integers (any size, signed or not): converted, with a note, when every |v| ≤ 2^24 (all
///   such integers are exact in float32); otherwise refused, naming the first value.
/// - wider floats (float128): refused.
/// Then every value must be finite: a NaN or ±Inf is refused, naming the first index — a model
/// with non-finite parameters gives non-finite scores, which would rank meaninglessly.
///
/// Non-float32 tensors are read in blocks of rows (at most `blockElements` values of the source
/// type at a time), so conversion needs no second copy of a large tensor.
enum CheckpointTensorReader {
    /// What happened to one tensor: a problem (refused) or a conversion note.
    enum Outcome: Equatable {
        case loaded
        case converted(from: String)
        case refused(String)
    }

    static let blockElements = 1 << 20
    /// The largest integer magnitude that every integer below it is exact in float32: 2^24.
    static let exactIntegerLimit: Int64 = 1 << 24

    static func read(_ dataset: HDF5Dataset, into buffer: UnsafeMutableBufferPointer<Float>, shape: [Int]) throws -> Outcome {
        let type = dataset.elementType
        switch type.kind {
        case .float where type.size == 4:
            try dataset.read(into: buffer)
            return nonFinite(buffer, shape: shape).map(Outcome.refused) ?? .loaded
        case .float where type.size < 4:
            try dataset.read(into: buffer)  // exact: every narrower IEEE value is a float32
            return nonFinite(buffer, shape: shape).map(Outcome.refused) ?? .converted(from: type.description)
        case .float where type.size == 8:
            return try convert(dataset, into: buffer, shape: shape, as: Double.self) { v in
                if !v.isFinite { return ("non-finite value \(v)", "") }
                return Double(Float(v)) == v ? nil
                    : ("float64 value \(v)", " is not exactly representable in float32 (it would become \(Double(Float(v))))")
            }
        case .integer:
            return try convert(dataset, into: buffer, shape: shape, as: Int64.self) { v in
                (-exactIntegerLimit...exactIntegerLimit).contains(v) ? nil
                    : ("integer value \(v)", " is beyond ±2^24 (\(exactIntegerLimit)), where float32 no longer holds every integer")
            }
        default:
            return .refused("stored as \(type): only float16, float32, exact float64 and integer tensors are read")
        }
    }

    /// Reads `dataset` as `T` block by block, refuses the first value `check` objects to (it
    /// returns the value's description and why it is refused), and converts the rest to float32.
    private static func convert<T: HDF5Scalar & BinaryNumericConvertible>(
        _ dataset: HDF5Dataset, into buffer: UnsafeMutableBufferPointer<Float>, shape: [Int], as: T.Type,
        _ check: (T) -> (value: String, why: String)?) throws -> Outcome {
        let source = dataset.elementType.description
        let convertOne: (T) -> Float = { $0.floatValue }
        if dataset.shape.isEmpty {
            let values = try dataset.read(as: T.self)
            for (i, v) in values.enumerated() {
                if let problem = check(v) { return .refused("\(problem.value) at \(position(i, shape))\(problem.why)") }
                buffer[i] = convertOne(v)
            }
            return .converted(from: source)
        }
        let rowLength = max(dataset.rowLength, 1)
        let rowsPerBlock = max(1, blockElements / rowLength)
        var row = 0
        while row < dataset.rowCount {
            let rows = row..<min(dataset.rowCount, row + rowsPerBlock)
            let values = try dataset.readRows(rows, as: T.self)
            let base = row * rowLength
            for (i, v) in values.enumerated() {
                if let problem = check(v) { return .refused("\(problem.value) at \(position(base + i, shape))\(problem.why)") }
                buffer[base + i] = convertOne(v)
            }
            row = rows.upperBound
        }
        return .converted(from: source)
    }

    /// The first non-finite value of `buffer`, described with its index, or nil.
    private static func nonFinite(_ buffer: UnsafeMutableBufferPointer<Float>, shape: [Int]) -> String? {
        guard let i = NonFiniteScan.first(UnsafeBufferPointer(buffer)) else { return nil }
        return "non-finite value \(buffer[i]) at \(position(i, shape))"
    }

    /// "index 123 ([0, 123])": a flat index and its position in `shape`.
    static func position(_ flat: Int, _ shape: [Int]) -> String {
        var rest = flat
        var coordinates = [Int](repeating: 0, count: shape.count)
        for axis in shape.indices.reversed() where shape[axis] > 0 {
            coordinates[axis] = rest % shape[axis]
            rest /= shape[axis]
        }
        return "index \(flat) ([\(coordinates.map(String.init).joined(separator: ", "))])"
    }
}

/// The element types a checkpoint tensor is converted from.
protocol BinaryNumericConvertible {
    var floatValue: Float { get }
}

extension Double: BinaryNumericConvertible { var floatValue: Float { Float(self) } }
extension Int64: BinaryNumericConvertible { var floatValue: Float { Float(self) } }
