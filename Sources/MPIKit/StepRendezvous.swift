import CMPI
import Foundation

/// Stall detection that names the missing ranks (DISTRIBUTED.md §7). Before each step every
/// rank checks in with rank 0 on a private duplicate of the world communicator: ranks ≠ 0 send
/// the step number and wait for rank 0's go; rank 0 waits for every check-in. Whoever waits
/// longer than the timeout ends the job with MPI_Abort and a message — rank 0 names the ranks
/// that never arrived; another rank reports that rank 0 did not answer. A rank that dies is
/// reported by `mpirun` itself; a rank that stalls (stuck I/O, a stopped process, an endless
/// loop) is found here instead of hanging the job forever.
// @unchecked Sendable: immutable after init except MPI calls on its own duplicated communicator
// (MPI_THREAD_MULTIPLE).
public final class StepRendezvous: @unchecked Sendable {
    let world: Communicator
    let control: MPI_Comm
    public let timeout: Double

    public init(world: Communicator, timeout: Double) throws {
        self.world = world
        self.timeout = timeout
        var dup: MPI_Comm? = nil
        try world.check(MPI_Comm_dup(world.comm, &dup), "MPI_Comm_dup")
        guard let dup else { throw MPIError(call: "MPI_Comm_dup", code: -1, rank: world.rank, message: "no communicator returned") }
        try world.check(MPI_Comm_set_errhandler(dup, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler")
        control = dup
    }

    /// Every rank checks in for `step` (collective over the world). `label` describes the point
    /// for the message (e.g. "step 120").
    public func checkIn(step: Int, label: String) throws {
        guard world.size > 1 else { return }
        // Buffers of non-blocking operations must outlive the calls that start them.
        let token = UnsafeMutablePointer<Int64>.allocate(capacity: 2)
        defer { token.deallocate() }
        token[0] = Int64(step)
        token[1] = -1
        let deadline = Date().addingTimeInterval(timeout)
        if world.rank == 0 {
            let others = world.size - 1
            var tokens = [Int64](repeating: -1, count: others)
            var requests = [MPI_Request?](repeating: MPI_REQUEST_NULL, count: others)
            var arrived = [Bool](repeating: false, count: others)
            try tokens.withUnsafeMutableBufferPointer { buffer in
                for r in 1..<world.size {
                    try world.check(MPI_Irecv(buffer.baseAddress! + (r - 1), 1, MPI_INT64_T, Int32(r), 7, control, &requests[r - 1]), "MPI_Irecv")
                }
                while arrived.contains(false) {
                    for i in 0..<others where !arrived[i] {
                        var flag: Int32 = 0
                        try world.check(MPI_Test(&requests[i], &flag, nil), "MPI_Test")
                        if flag != 0 { arrived[i] = true }
                    }
                    if arrived.contains(false) {
                        if Date() > deadline {
                            let missing = (0..<others).filter { !arrived[$0] }.map { $0 + 1 }
                            world.abort("\(world.describe(ranks: missing)) did not reach \(label) "
                                        + "within \(Int(timeout)) s (collective_timeout); stopping the job instead of waiting forever")
                        }
                        usleep(200)
                    }
                }
            }
            for (i, t) in tokens.enumerated() where t != token[0] {
                world.abort("\(world.describe(rank: i + 1)) is at step \(t) while rank 0 is at \(label): ranks diverged")
            }
            var sends = [MPI_Request?](repeating: MPI_REQUEST_NULL, count: others)
            for r in 1..<world.size {
                try world.check(MPI_Isend(token, 1, MPI_INT64_T, Int32(r), 8, control, &sends[r - 1]), "MPI_Isend")
            }
            try world.check(MPI_Waitall(Int32(others), &sends, nil), "MPI_Waitall")
        } else {
            var send: MPI_Request? = MPI_REQUEST_NULL, receive: MPI_Request? = MPI_REQUEST_NULL
            try world.check(MPI_Isend(token, 1, MPI_INT64_T, 0, 7, control, &send), "MPI_Isend")
            try world.check(MPI_Irecv(token + 1, 1, MPI_INT64_T, 0, 8, control, &receive), "MPI_Irecv")
            var done: Int32 = 0
            while done == 0 {
                try world.check(MPI_Test(&receive, &done, nil), "MPI_Test")
                if done == 0 {
                    if Date() > deadline {
                        world.abort("\(world.describe(rank: 0)) did not confirm \(label) within \(Int(timeout)) s (collective_timeout): rank 0 or another rank is stalled")
                    }
                    usleep(200)
                }
            }
            try world.check(MPI_Wait(&send, nil), "MPI_Wait")
        }
    }
}
