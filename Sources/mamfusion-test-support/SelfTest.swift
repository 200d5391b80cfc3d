import ArgumentParser
import CMPI
import Foundation
import MPIKit
import TensorKit

/// `mamfusion-test-support selftest comm`: exercises every collective of `Communicator` with rank-dependent
/// inputs and prints each rank's raw results, one line per check
/// (`rank <r> <check> <values…>`), so that a test can recompute the expected values
/// independently. Test-only: not part of the shipped tool.
struct SelfTest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selftest",
        abstract: "Print raw collective results for the test suite.",
    )

    @Argument(help: "What to exercise: comm, error (an invalid call must throw), abort (the last rank aborts the job), stall (the last rank stays busy between two guarded collectives)")
    var what: String = "comm"

    func run() throws {
        switch what {
        case "comm": try collectives()
        case "error": try invalidCall()
        case "abort": try abortFromLastRank()
        case "stall": try stallLastRank()
        default: throw ValidationError("unknown self-test '\(what)'")
        }
    }

    /// An all-reduce of a datatype MPI no longer knows (created, then freed) must come back as an
    /// `MPIError` naming the call and the rank (MPI_ERRORS_RETURN), not kill the job.
    private func invalidCall() throws {
        let world = try Communicator.world()
        var values: [FreedDatatypeScalar] = [FreedDatatypeScalar(1), FreedDatatypeScalar(2)]
        do {
            try values.withUnsafeMutableBufferPointer { try world.allreduce(inPlace: $0, .sum) }
            print("rank \(world.rank) no-error")
        } catch let error as MPIError {
            print("rank \(world.rank) error \(error)")
        }
        fflush(nil)
        try world.barrier()
    }

    /// The last rank ends the whole job with a message; the others wait in a barrier that never
    /// completes — the job must still end, promptly, with the message.
    private func abortFromLastRank() throws {
        let world = try Communicator.world()
        if world.rank == world.size - 1 { world.abort("self-test abort requested", code: 3) }
        try world.barrier()
        print("rank \(world.rank) survived the abort")
    }

    /// Every rank enters one guarded all-reduce; then the last rank stays busy — alive, its
    /// watchdog answering roll calls — while the others wait in the next guarded collective. The
    /// watchdog (timeout 2 s) must end the job naming the busy rank as one that did not reach it.
    private func stallLastRank() throws {
        let world = try Communicator.world()
        let watchdog = try CollectiveWatchdog(world: world, timeout: 2)
        _ = try watchdog.guarding("rank \(world.rank): the first collective") { try world.allreduce(Int64(1), .sum) }
        if world.rank == world.size - 1 { Thread.sleep(forTimeInterval: 60) }
        _ = try watchdog.guarding("rank \(world.rank): the second collective") { try world.allreduce(Int64(1), .sum) }
        print("rank \(world.rank) was not stopped")
    }

    private func collectives() throws {
        let world = try Communicator.world()
        let r = world.rank, p = world.size
        var lines: [String] = []
        func emit<T>(_ name: String, _ values: [T]) { lines.append("rank \(r) \(name) " + values.map { "\($0)" }.joined(separator: " ")) }

        emit("size", [p])
        // All-reduce: in place, and of arrays and scalars, each op and type.
        var f = (0..<5).map { Float((r + 1) * ($0 + 1)) }
        try f.withUnsafeMutableBufferPointer { try world.allreduce(inPlace: $0, .sum) }
        emit("allreduce-sum-float-inplace", f)
        emit("allreduce-max-double", try world.allreduce([Double(r) * 1.5, -Double(r)], .max))
        emit("allreduce-min-int32", try world.allreduce([Int32(r) - 3, Int32(10 * r)], .min))
        emit("allreduce-sum-int64", try world.allreduce([Int64(r) << 33, 1], .sum))
        emit("allreduce-max-int64", [try world.allreduce(Int64(100 - r), .max)])
        emit("allreduce-sum-double-scalar", [try world.allreduce(Double(r) + 0.25, .sum)])

        // Gathers.
        emit("allgather-int64", try world.allgather([Int64(r), Int64(r * 10)]))
        let mine = (0...r).map { Float(r * 100 + $0) }   // unequal counts: rank r sends r+1 values
        let (gathered, counts) = try world.allgatherv(mine)
        emit("allgatherv-float", gathered)
        emit("allgatherv-counts", counts)

        // Reduce-scatter with unequal blocks: block q has q+1 elements.
        let blockCounts = (0..<p).map { $0 + 1 }
        let total = blockCounts.reduce(0, +)
        let contribution = (0..<total).map { Float($0 * (r + 1)) }
        var block = [Float](repeating: -1, count: blockCounts[r])
        try contribution.withUnsafeBufferPointer { send in
            try block.withUnsafeMutableBufferPointer { try world.reduceScatter(send, into: $0, counts: blockCounts, .sum) }
        }
        emit("reducescatter-float", block)

        // Non-blocking all-reduce on buffers the requests keep alive: several in flight, driven by
        // test() then completed by wait().
        let small = (0..<3).map { k in FloatStorage.of([Float(r + k), Float(k)]) }
        let requests = try small.map { try world.startAllreduce(inPlace: $0.buffer, owner: $0, .sum) }
        var polls = 0
        while try !requests.allSatisfy({ try $0.test() }) && polls < 1_000_000 { polls += 1 }
        for (k, storage) in small.enumerated() { emit("iallreduce-\(k)", Array(storage.buffer)) }
        let big = FloatStorage.of([Float](repeating: Float(r + 1), count: 1 << 16))
        try world.startAllreduce(inPlace: big.buffer, owner: big, .sum).wait()
        emit("iallreduce-large", [big.count, Int(big.buffer.min()!), Int(big.buffer.max()!)])

        // Top-k merges: one slot is MPI_MAXLOC (values collide on purpose so the lowest-index rule
        // is visible), three slots the merge operation.
        var maxloc = [RankedScore(score: Float(r % 2), index: Int32(r))]
        try maxloc.withUnsafeMutableBufferPointer { try world.allreduceTopK($0, slots: 1) }
        emit("maxloc", [Double(maxloc[0].score), Double(maxloc[0].index)])
        var lists = [Float(r), Float(-r), 7].map { RankedScore(score: $0, index: Int32(r)) }
        try lists.withUnsafeMutableBufferPointer { try world.allreduceTopK($0, slots: 1) }
        emit("maxloc-elementwise", lists.map { "\($0.score):\($0.index)" })
        var top = [Float(10 - r), 5, 1].enumerated().map { RankedScore(score: $1, index: Int32(10 * r + $0)) }
        try top.withUnsafeMutableBufferPointer { try world.allreduceTopK($0, slots: 3) }
        emit("topk-merge", top.map { "\($0.score):\($0.index)" })
        try world.barrier()

        try world.printInRankOrder(lines: lines)
    }
}

/// A scalar whose MPI datatype is one MPI has already freed (`MPI_DATATYPE_NULL` after
/// `MPI_Type_free`): every call with it is invalid.
struct FreedDatatypeScalar: MPIScalar, ExpressibleByIntegerLiteral {
    var value: Int32
    init(_ value: Int32) { self.value = value }
    init(integerLiteral value: Int32) { self.value = value }
    init?<T: BinaryInteger>(exactly source: T) { guard let v = Int32(exactly: source) else { return nil }; value = v }
    var magnitude: UInt32 { value.magnitude }
    static func + (a: Self, b: Self) -> Self { Self(a.value &+ b.value) }
    static func - (a: Self, b: Self) -> Self { Self(a.value &- b.value) }
    static func * (a: Self, b: Self) -> Self { Self(a.value &* b.value) }
    static func *= (a: inout Self, b: Self) { a = a * b }

    nonisolated(unsafe) static let freed: MPI_Datatype = {
        var type: MPI_Datatype? = nil
        MPI_Type_contiguous(1, MPI_INT32_T, &type)
        MPI_Type_commit(&type)
        MPI_Type_free(&type)
        return type!
    }()
    static var mpiDatatype: MPI_Datatype { freed }
}
