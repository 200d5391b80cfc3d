import Testing
@testable import MPIKit

struct MPIErrorTests {
    @Test("an MPI error names the call, the rank and MPI's message")
    func description() {
        let e = MPIError(call: "MPI_Allreduce", code: 5, rank: 3, message: "MPI_ERR_COUNT: invalid count argument")
        #expect(e.description == "rank 3: MPI_Allreduce failed (code 5): MPI_ERR_COUNT: invalid count argument")
    }
}
