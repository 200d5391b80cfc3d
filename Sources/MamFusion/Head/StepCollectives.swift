import MPIKit
import TensorKit

/// The blocking collectives of one training step, each timed, its payload counted, and guarded
/// by the collective watchdog (when there is one).
///
/// Bytes are what this rank *sends* with the bandwidth-optimal ring algorithms MPI libraries use
/// for large messages (n = the collective's whole payload, P ranks): all-gather and
/// reduce-scatter (P−1)/P·n, all-reduce 2(P−1)/P·n. It is a model of the traffic (MPI does not
/// report it), the same on every machine, and zero on one rank.
public struct StepCollectives {
    /// What one step spent, per kind of collective.
    public struct Tally: Sendable, Equatable {
        /// Seconds inside the collectives (including waiting for slower ranks).
        public var seconds = 0.0
        /// Bytes sent by this rank (ring model, see above).
        public var gatherBytes = 0, reductionBytes = 0
        public mutating func reset() { self = Tally() }
    }

    public let world: any World
    public var watchdog: CollectiveWatchdog?
    public var tally = Tally()

    public init(world: any World) { self.world = world }

    private var ringShare: Double { world.size > 1 ? Double(world.size - 1) / Double(world.size) : 0 }

    /// Runs `body` under the watchdog; returns its seconds.
    private func timed(_ label: String, _ body: () throws -> Void) throws -> Double {
        let t0 = MonotonicClock.now()
        if let watchdog {
            try watchdog.guarding("rank \(world.rank): \(label)", body)
        } else {
            try body()
        }
        return MonotonicClock.now() - t0
    }

    /// Gathers rank-order blocks of `width` floats per row (`rowsPerRank[r]` rows from rank r).
    public mutating func allgather(_ label: String, send: UnsafePointer<Float>, into receive: UnsafeMutablePointer<Float>,
                            rowsPerRank: [Int], width: Int) throws {
        let counts = rowsPerRank.map { $0 * width }, total = counts.reduce(0, +), world = self.world
        tally.seconds += try timed(label) {
            try world.allgatherv(UnsafeBufferPointer(start: send, count: counts[world.rank]),
                                 into: UnsafeMutableBufferPointer(start: receive, count: total), counts: counts)
        }
        tally.gatherBytes += Int(ringShare * Double(total * MemoryLayout<Float>.stride))
    }

    /// Sums rank-order blocks of `width` floats per row across ranks and leaves this rank's block.
    public mutating func reduceScatter(_ label: String, send: UnsafePointer<Float>, into receive: UnsafeMutablePointer<Float>,
                                rowsPerRank: [Int], width: Int) throws {
        let counts = rowsPerRank.map { $0 * width }, total = counts.reduce(0, +), world = self.world
        tally.seconds += try timed(label) {
            try world.reduceScatter(UnsafeBufferPointer(start: send, count: total),
                                    into: UnsafeMutableBufferPointer(start: receive, count: counts[world.rank]), counts: counts, .sum)
        }
        tally.gatherBytes += Int(ringShare * Double(total * MemoryLayout<Float>.stride))
    }

    public mutating func allreduce<T: MPIScalar>(_ label: String, _ buffer: UnsafeMutableBufferPointer<T>, _ op: ReduceOperation) throws {
        let world = self.world
        tally.seconds += try timed(label) { try world.allreduce(inPlace: buffer, op) }
        tally.reductionBytes += Int(2 * ringShare * Double(buffer.count * MemoryLayout<T>.stride))
    }

    public mutating func allreduceTopK(_ label: String, _ records: UnsafeMutableBufferPointer<RankedScore>, slots: Int) throws {
        let world = self.world
        tally.seconds += try timed(label) { try world.allreduceTopK(records, slots: slots) }
        tally.reductionBytes += Int(2 * ringShare * Double(records.count * MemoryLayout<RankedScore>.stride))
    }
}
