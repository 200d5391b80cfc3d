import CMPI

extension Communicator {
    /// The underlying `MPI_Comm`, for libraries that take a communicator themselves (parallel
    /// HDF5's `H5Pset_fapl_mpio`). The handle stays owned by this `Communicator`: callers must not
    /// free it, and it is only valid while MPI is initialised.
    public var rawHandle: MPI_Comm { comm }
}
