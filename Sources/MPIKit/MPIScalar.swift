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
