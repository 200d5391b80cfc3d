import MPIKit
import TensorKit

/// The collectives of one evaluation over a `World`, each timed and its payload counted (on one
/// rank, a `LocalWorld` or the MPI singleton, every collective is the identity and moves nothing).
struct EvaluationCollectives {
    let world: any World
    /// Seconds inside the collectives, including waiting for slower ranks.
    private(set) var seconds = 0.0
    /// Payload bytes this rank contributed to all-reduces (0 on one rank).
    private(set) var reducedBytes = 0
    /// Bytes this rank sent to / received from all-gathers (0 on one rank).
    private(set) var gatherSentBytes = 0
    private(set) var gatherReceivedBytes = 0

    init(_ world: any World) { self.world = world }

    var rank: Int { world.rank }
    var size: Int { world.size }
    /// 1 when other ranks exist, 0 alone: scales the byte counts.
    private var remote: Int { world.size > 1 ? 1 : 0 }

    mutating func allreduce<T: MPIScalar>(_ buffer: UnsafeMutableBufferPointer<T>, _ op: ReduceOperation) throws {
        let t0 = MonotonicClock.now()
        try world.allreduce(inPlace: buffer, op)
        seconds += MonotonicClock.now() - t0
        reducedBytes += remote * buffer.count * MemoryLayout<T>.stride
    }

    /// The failure agreement (`World.agreeOnFailure`), timed and counted as an all-gather.
    mutating func agreeOnFailure(_ failure: (any Error)?, values: [Int64]) throws -> [[Int64]] {
        let t0 = MonotonicClock.now()
        defer { seconds += MonotonicClock.now() - t0 }
        gatherSentBytes += remote * (values.count + 1) * MemoryLayout<Int64>.stride
        gatherReceivedBytes += remote * (values.count + 1) * world.size * MemoryLayout<Int64>.stride
        return try world.agreeOnFailure(failure, values: values)
    }

    mutating func allgather<T: MPIScalar>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>) throws {
        let t0 = MonotonicClock.now()
        try world.allgatherv(send, into: receive, counts: Array(repeating: send.count, count: world.size))
        seconds += MonotonicClock.now() - t0
        gatherSentBytes += remote * send.count * MemoryLayout<T>.stride
        gatherReceivedBytes += remote * receive.count * MemoryLayout<T>.stride
    }
}
