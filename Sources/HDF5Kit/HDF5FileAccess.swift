import MPIKit

/// How a file is opened: by this process alone, or by every rank of a communicator together
/// through MPI-IO.
///
/// With `.parallel`, opening, creating and closing the file, creating groups, datasets and
/// attributes, and writing attributes are **collective**: every rank of the communicator must
/// make the same calls in the same order with the same arguments. Dataset reads and writes may
/// be independent or collective (`HDF5Transfer`).
public enum HDF5FileAccess: Sendable {
    case serial
    case parallel(Communicator)

    /// The communicator of a parallel file.
    public var communicator: Communicator? {
        if case .parallel(let communicator) = self { return communicator }
        return nil
    }

    /// A file every rank of `world` opens together: through MPI-IO when the world is MPI with
    /// more than one rank, else by this process alone (a world of one needs no MPI-IO).
    public static func shared(by world: any World) -> HDF5FileAccess {
        guard let mpi = world.communicator, mpi.size > 1 else { return .serial }
        return .parallel(mpi)
    }
}

/// How the ranks move data for one dataset read or write on a parallel file.
///
/// - `independent`: each rank does its own I/O; ranks need not call together. Right for a rank
///   reading its shard when the others are busy with something else.
/// - `collective`: every rank of the file's communicator must make the call (a rank with
///   nothing to move passes an empty row range); MPI-IO can then merge the requests, which is
///   faster on parallel file systems.
///
/// Serial files ignore the choice.
public enum HDF5Transfer: Sendable {
    case independent, collective
}
