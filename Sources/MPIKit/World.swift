import CMPI
import TensorKit
#if canImport(Glibc)
import Glibc
#endif

/// The processes of one job as training, evaluation, checkpoints and indexes see them: this
/// process's rank, the number of ranks, and the collectives the code uses. `Communicator` is the
/// MPI world (any size, the singleton included); `LocalWorld` is one process without MPI, where
/// every collective is the identity. Callers use one code path for every world size: a world of
/// one rank is simply a world (as open_clip's `gather_features` is the only place that asks),
/// and the trainer runs in-process on `LocalWorld` in tests.
///
/// Every rank must call the collectives in the same order with matching sizes (MPI's rule).
public protocol World: AnyObject, Sendable {
    var rank: Int { get }
    var size: Int { get }
    /// The MPI communicator behind this world, for what only MPI offers (MPI-IO files, the
    /// collective watchdog's control channel); nil for a world without MPI.
    var communicator: Communicator? { get }
    /// How messages name a rank ("rank 3 on host node07").
    func describe(rank: Int) -> String
    /// Whether another thread may call into the world while this one does (MPI_THREAD_MULTIPLE):
    /// what a thread that drives non-blocking reductions needs.
    var allowsConcurrentCalls: Bool { get }
    /// The host this rank runs on.
    func hostName() throws -> String

    /// Reduces `buffer` element-wise across ranks, in place.
    func allreduce<T: MPIScalar>(inPlace buffer: UnsafeMutableBufferPointer<T>, _ op: ReduceOperation) throws
    /// Rank r contributes `counts[r]` elements; `receive` gets them concatenated in rank order.
    func allgatherv<T: MPIScalar>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>, counts: [Int]) throws
    /// Reduces `send` (every rank's blocks, concatenated in rank order) element-wise and leaves
    /// block r (`counts[r]` elements) on rank r, in `receive`.
    func reduceScatter<T: MPIScalar>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>, counts: [Int],
                                     _ op: ReduceOperation) throws
    /// Starts an in-place all-reduce of `buffer`, whose memory `owner` keeps alive until the
    /// reduction completes.
    func startAllreduce<T: MPIScalar>(inPlace buffer: UnsafeMutableBufferPointer<T>, owner: AnyObject,
                                      _ op: ReduceOperation) throws -> any PendingReduction
    /// Merges per-rank top-`slots` lists, in place: `records` holds `records.count / slots`
    /// lists of `slots` records, each sorted by `RankedScore.precedes` and padded at its end
    /// with `RankedScore.none`; afterwards every rank holds, for each list, the first `slots`
    /// records of the union over ranks — bit-identical on every rank (records are copied, never
    /// computed). One slot is MPI_MAXLOC; more slots a user-defined commutative merge.
    func allreduceTopK(_ records: UnsafeMutableBufferPointer<RankedScore>, slots: Int) throws
}

/// A non-blocking reduction in flight.
public protocol PendingReduction: AnyObject, Sendable {
    /// Drives progress; true once the reduction has completed.
    func test() throws -> Bool
    /// Blocks until the reduction has completed.
    func wait() throws
    var isComplete: Bool { get }
}

extension World {
    /// Several ranks the way `describe(rank:)` names one: "rank 3 on host node07",
    /// "ranks 1 on host node02, 3 on host node07".
    public func describe(ranks: [Int]) -> String {
        guard ranks.count != 1 else { return describe(rank: ranks[0]) }
        return "ranks " + ranks.map { describe(rank: $0).dropFirst("rank ".count) }.joined(separator: ", ")
    }

    /// Reduces an array element-wise across ranks.
    public func allreduce<T: MPIScalar>(_ values: [T], _ op: ReduceOperation) throws -> [T] {
        var out = values
        try out.withUnsafeMutableBufferPointer { try allreduce(inPlace: $0, op) }
        return out
    }

    /// Reduces one scalar across ranks.
    public func allreduce<T: MPIScalar>(_ value: T, _ op: ReduceOperation) throws -> T {
        try allreduce([value], op)[0]
    }
}

/// One process on its own, without MPI: rank 0 of 1, every collective the identity. For tools
/// and tests that run the training or evaluation code in-process.
public final class LocalWorld: World {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public var allowsConcurrentCalls: Bool { true }
    public var communicator: Communicator? { nil }
    public func describe(rank: Int) -> String { "rank \(rank)" }

    public func hostName() throws -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public func allreduce<T: MPIScalar>(inPlace buffer: UnsafeMutableBufferPointer<T>, _ op: ReduceOperation) throws {}

    public func allgatherv<T: MPIScalar>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>, counts: [Int]) throws {
        precondition(counts == [send.count] && receive.count == send.count, "allgatherv: one rank, one block")
        if send.baseAddress != UnsafePointer(receive.baseAddress) { _ = receive.update(fromContentsOf: send) }
    }

    public func reduceScatter<T: MPIScalar>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>, counts: [Int],
                                            _ op: ReduceOperation) throws {
        precondition(counts == [send.count] && receive.count == send.count, "reduceScatter: one rank, one block")
        if send.baseAddress != UnsafePointer(receive.baseAddress) { _ = receive.update(fromContentsOf: send) }
    }

    public func startAllreduce<T: MPIScalar>(inPlace buffer: UnsafeMutableBufferPointer<T>, owner: AnyObject,
                                             _ op: ReduceOperation) throws -> any PendingReduction {
        CompletedReduction()
    }

    public func allreduceTopK(_ records: UnsafeMutableBufferPointer<RankedScore>, slots: Int) throws {}
}

/// The reduction of a world of one: complete when started.
final class CompletedReduction: PendingReduction {
    func test() throws -> Bool { true }
    func wait() throws {}
    var isComplete: Bool { true }
}

extension Communicator: World {
    public var allowsConcurrentCalls: Bool { threadLevel >= Int32(mf_thread_multiple()) }
    public var communicator: Communicator? { self }

    public func startAllreduce<T: MPIScalar>(inPlace buffer: UnsafeMutableBufferPointer<T>, owner: AnyObject,
                                             _ op: ReduceOperation) throws -> any PendingReduction {
        let request: AllreduceRequest<T> = try startAllreduce(inPlace: buffer, owner: owner, op)
        return request
    }

    public func allreduceTopK(_ records: UnsafeMutableBufferPointer<RankedScore>, slots: Int) throws {
        precondition(slots >= 1 && records.count % slots == 0, "allreduceTopK: records must be whole lists of \(slots)")
        let lists = try count(records.count / slots, "MPI_Allreduce(top-k)")
        if slots == 1 {
            try check(MPI_Allreduce(MPI_IN_PLACE, records.baseAddress, lists, MPI_FLOAT_INT, MPI_MAXLOC, comm), "MPI_Allreduce(MAXLOC)")
        } else {
            let (type, op) = try topKReduction(slots: slots)
            try check(MPI_Allreduce(MPI_IN_PLACE, records.baseAddress, lists, type, op, comm), "MPI_Allreduce(merge top-k)")
        }
    }
}

extension AllreduceRequest: PendingReduction {}
