import Foundation
import ArgumentParser
import MPIKit

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

    /// A broadcast from a root that does not exist must come back as an `MPIError` naming the
    /// call and the rank (MPI_ERRORS_RETURN), not kill the job.
    private func invalidCall() throws {
        let world = try Communicator.world()
        var values: [Int32] = [1, 2]
        do {
            try values.withUnsafeMutableBufferPointer { try world.broadcast($0, root: world.size + 5) }
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
        // All-reduce: in place, out of place, each op and type.
        var f = (0..<5).map { Float((r + 1) * ($0 + 1)) }
        try f.withUnsafeMutableBufferPointer { try world.allreduce(inPlace: $0, .sum) }
        emit("allreduce-sum-float-inplace", f)
        let src = (0..<4).map { Float(r) * 0.5 + Float($0) }
        var dst = [Float](repeating: -1, count: 4)
        try src.withUnsafeBufferPointer { s in try dst.withUnsafeMutableBufferPointer { try world.allreduce(s, into: $0, .sum) } }
        emit("allreduce-sum-float-outofplace", dst)
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
        emit("reducescatter-float", try world.reduceScatter(contribution, counts: blockCounts, .sum))

        // Non-blocking all-reduce: several in flight, driven by test() then completed by wait().
        let requests = try (0..<3).map { k in try world.startAllreduce([Float(r + k), Float(k)], .sum) }
        var polls = 0
        while try !requests.allSatisfy({ try $0.test() }) && polls < 1_000_000 { polls += 1 }
        for (k, request) in requests.enumerated() { emit("iallreduce-\(k)", try request.result) }
        let big = try world.startAllreduce([Double](repeating: Double(r + 1), count: 1 << 16), .sum)
        try big.wait()
        let bigResult = try big.result
        emit("iallreduce-large", [bigResult.count, Int(bigResult.min()!), Int(bigResult.max()!)])

        // MAXLOC / MINLOC: values collide on purpose so the lowest-index rule is visible.
        let maxloc = try world.allreduceMaxLoc(Double(r % 2), index: r)
        emit("maxloc", [maxloc.value, Double(maxloc.index)])
        let minloc = try world.allreduceMinLoc(Double(r % 2), index: r)
        emit("minloc", [minloc.value, Double(minloc.index)])
        var values: [Float] = [Float(r), Float(-r), 7]
        var indices: [Int32] = [Int32(r), Int32(r), Int32(r)]
        try world.allreduceMaxLoc(values: &values, indices: &indices)
        emit("maxloc-elementwise", zip(values, indices).map { "\($0):\($1)" })

        // Broadcast from the last rank.
        var array = r == p - 1 ? [Int32](arrayLiteral: 4, 5, 6) : []
        try world.broadcast(&array, root: p - 1)
        emit("broadcast-int32", array)
        emit("broadcast-string", [try world.broadcast(r == p - 1 ? "from-last-rank" : "", root: p - 1)])
        try world.barrier()

        try world.printInRankOrder(lines: lines)
    }
}
