import CMPI

/// A Swift scalar with a matching MPI datatype.
public protocol MPIScalar: Sendable, Numeric {
    static var mpiDatatype: MPI_Datatype { get }
}

extension Float: MPIScalar { public static var mpiDatatype: MPI_Datatype { MPI_FLOAT } }
extension Double: MPIScalar { public static var mpiDatatype: MPI_Datatype { MPI_DOUBLE } }
extension Int32: MPIScalar { public static var mpiDatatype: MPI_Datatype { MPI_INT32_T } }
extension Int64: MPIScalar { public static var mpiDatatype: MPI_Datatype { MPI_INT64_T } }
extension UInt8: MPIScalar { public static var mpiDatatype: MPI_Datatype { MPI_UINT8_T } }
extension UInt32: MPIScalar { public static var mpiDatatype: MPI_Datatype { MPI_UINT32_T } }
extension UInt64: MPIScalar { public static var mpiDatatype: MPI_Datatype { MPI_UINT64_T } }

/// The element-wise reductions a collective can apply.
public enum ReduceOperation: Sendable, CustomStringConvertible {
    case sum, max, min

    var handle: MPI_Op {
        switch self {
        case .sum: return MPI_SUM
        case .max: return MPI_MAX
        case .min: return MPI_MIN
        }
    }

    public var description: String {
        switch self {
        case .sum: return "sum"
        case .max: return "max"
        case .min: return "min"
        }
    }
}

/// A (value, index) pair for MAXLOC/MINLOC reductions: the extreme value and the index that
/// holds it (the lowest index among equal extremes, as MPI defines it).
public struct ValueIndex<Value: Sendable & Comparable>: Sendable, Equatable where Value: Equatable {
    public let value: Value
    public let index: Int
    public init(value: Value, index: Int) {
        self.value = value
        self.index = index
    }
}

/// Memory layout of MPI_DOUBLE_INT / MPI_FLOAT_INT pairs (C struct { T value; int index; }).
struct DoubleIntPair { var value: Double; var index: Int32 }
struct FloatIntPair { var value: Float; var index: Int32 }
