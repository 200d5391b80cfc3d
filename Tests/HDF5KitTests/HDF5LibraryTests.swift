import Testing
@testable import HDF5Kit

struct HDF5LibraryTests {
    @Test("the linked HDF5 is the parallel (MPI-IO) build, version 1.x")
    func parallelBuild() {
        #expect(HDF5Library.isParallel)
        #expect(HDF5Library.version.hasPrefix("1."))
    }
}
