import MPIKit
import TensorKit

/// The collectives of one evaluation, each timed and its payload counted, over an optional
/// communicator (nil: one process, no MPI — every collective is the identity).
struct EvaluationCollectives {
    let communicator: Communicator?
    /// Seconds inside MPI calls, including waiting for slower ranks.
    private(set) var seconds = 0.0
    /// Payload bytes this rank contributed to all-reduces.
    private(set) var reducedBytes = 0
    /// Bytes this rank sent to / received from all-gathers.
    private(set) var gatherSentBytes = 0
    private(set) var gatherReceivedBytes = 0

    init(_ communicator: Communicator?) { self.communicator = communicator }

    var rank: Int { communicator?.rank ?? 0 }
    var size: Int { communicator?.size ?? 1 }

    mutating func allreduce<T: MPIScalar>(_ buffer: UnsafeMutableBufferPointer<T>, _ op: ReduceOperation) throws {
        guard let communicator, communicator.size > 1 else { return }
        let t0 = MonotonicClock.now()
        try communicator.allreduce(inPlace: buffer, op)
        seconds += MonotonicClock.now() - t0
        reducedBytes += buffer.count * MemoryLayout<T>.stride
    }

    mutating func allgather<T: MPIScalar>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>) throws {
        guard let communicator, communicator.size > 1 else {
            _ = receive.initialize(from: send)
            return
        }
        let t0 = MonotonicClock.now()
        try communicator.allgather(send, into: receive)
        seconds += MonotonicClock.now() - t0
        gatherSentBytes += send.count * MemoryLayout<T>.stride
        gatherReceivedBytes += receive.count * MemoryLayout<T>.stride
    }
}
