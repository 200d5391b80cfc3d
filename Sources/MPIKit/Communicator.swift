import CMPI
import Synchronization
import TensorKit
#if canImport(Glibc)
import Glibc
#endif

/// The MPI world as a Swift value: rank, size and the collectives this project needs, each
/// checked (MPI_ERRORS_RETURN: a failure becomes an `MPIError` naming the call and the rank).
///
/// A process started without `mpirun` is a valid world of size 1 (MPI singleton init).
/// MPI is initialised once, on first use of `Communicator.world()`, and finalised at exit.
/// Buffers passed to blocking collectives only need to live for the call; non-blocking
/// operations own (or retain) their memory until they complete (`AllreduceRequest`).
// @unchecked Sendable: an MPI communicator handle, immutable once made; MPI is initialised with
// MPI_THREAD_MULTIPLE, so its calls may come from the progress and watchdog threads too.
public final class Communicator: @unchecked Sendable {
    let comm: MPI_Comm
    public let rank: Int
    public let size: Int
    /// The thread support level MPI granted (MPI_THREAD_*).
    public let threadLevel: Int32
    /// The host of every rank (MPI_Get_processor_name), gathered once when the world is made, so
    /// a failure message can name the host of another rank without a collective — when it is
    /// written, that rank may be dead or stopped.
    public private(set) var hosts: [String] = []

    /// The world, the merge-top-k reduction and its list datatypes: made once per process, read
    /// and written only under `lock` (so `nonisolated(unsafe)` is true here).
    nonisolated(unsafe) private static var shared: Communicator?
    nonisolated(unsafe) private static var mergeTopK: MPI_Op?
    nonisolated(unsafe) private static var topKTypes: [Int: MPI_Datatype] = [:]
    private static let lock = Mutex<Void>(())

    /// The world communicator, initialising MPI on first call.
    public static func world() throws -> Communicator {
        try lock.locked { try makeWorld() }
    }

    /// The body of `world()`, under `lock`.
    private static func makeWorld() throws -> Communicator {
        if let shared { return shared }
        var initialised: Int32 = 0
        MPI_Initialized(&initialised)
        var provided: Int32 = 0
        if initialised == 0 {
            let rc = MPI_Init_thread(nil, nil, Int32(mf_thread_multiple()), &provided)
            guard rc == MPI_SUCCESS else {
                throw MPIError(call: "MPI_Init_thread", code: rc, rank: -1, message: errorString(rc))
            }
            atexit { Communicator.finalize() }
        } else {
            MPI_Query_thread(&provided)
        }
        let comm = MPI_COMM_WORLD
        // Return errors instead of aborting the job behind the caller's back.
        var rc = MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN)
        guard rc == MPI_SUCCESS else { throw MPIError(call: "MPI_Comm_set_errhandler", code: rc, rank: -1, message: errorString(rc)) }
        var r: Int32 = 0, s: Int32 = 0
        rc = MPI_Comm_rank(comm, &r)
        guard rc == MPI_SUCCESS else { throw MPIError(call: "MPI_Comm_rank", code: rc, rank: -1, message: errorString(rc)) }
        rc = MPI_Comm_size(comm, &s)
        guard rc == MPI_SUCCESS else { throw MPIError(call: "MPI_Comm_size", code: rc, rank: Int(r), message: errorString(rc)) }
        let world = Communicator(comm: comm, rank: Int(r), size: Int(s), threadLevel: provided)
        world.hosts = try world.gatherHostNames()
        shared = world
        return world
    }

    /// The world if MPI has been initialised in this process (nil otherwise: never initialises).
    public static var initializedWorld: Communicator? {
        lock.locked { shared }
    }

    private init(comm: MPI_Comm, rank: Int, size: Int, threadLevel: Int32) {
        self.comm = comm
        self.rank = rank
        self.size = size
        self.threadLevel = threadLevel
    }

    private static func finalize() {
        var finalized: Int32 = 0
        MPI_Finalized(&finalized)
        if finalized == 0 { MPI_Finalize() }
    }

    // MARK: - Checking

    static func errorString(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: Int(mf_max_error_string()) + 1)
        var length: Int32 = 0
        guard MPI_Error_string(code, &buffer, &length) == MPI_SUCCESS else { return "unknown MPI error" }
        return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The one place an MPI return code is inspected.
    @inline(__always)
    func check(_ rc: Int32, _ call: StaticString) throws {
        if rc != MPI_SUCCESS {
            throw MPIError(call: "\(call)", code: rc, rank: rank, message: Self.errorString(rc))
        }
    }

    func count(_ n: Int, _ call: StaticString) throws -> Int32 {
        guard n >= 0 && n <= Int(Int32.max) else {
            throw MPIError(call: "\(call)", code: -1, rank: rank, message: "count \(n) does not fit MPI's int")
        }
        return Int32(n)
    }

    // MARK: - World facts

    /// This process's host (MPI_Get_processor_name).
    public func hostName() throws -> String {
        var buffer = [CChar](repeating: 0, count: Int(mf_max_processor_name()) + 1)
        var length: Int32 = 0
        try check(MPI_Get_processor_name(&buffer, &length), "MPI_Get_processor_name")
        return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Every rank's host name, in rank order: one all-gather of fixed-size, zero-padded names.
    private func gatherHostNames() throws -> [String] {
        let width = Int(mf_max_processor_name()) + 1
        var mine = [UInt8](repeating: 0, count: width)
        let name = Array(try hostName().utf8.prefix(width - 1))
        mine.replaceSubrange(0..<name.count, with: name)
        let all = try allgather(mine)
        return (0..<size).map { r in
            let row = all[r * width..<(r + 1) * width]
            return String(decoding: row.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// How failure messages name a rank: "rank 3 on host node07".
    public func describe(rank r: Int) -> String {
        r >= 0 && r < hosts.count ? "rank \(r) on host \(hosts[r])" : "rank \(r)"
    }


    /// The MPI library's own version line (MPI_Get_library_version), first line only.
    public static func libraryVersion() -> String {
        var buffer = [CChar](repeating: 0, count: Int(mf_max_library_version_string()) + 1)
        var length: Int32 = 0
        MPI_Get_library_version(&buffer, &length)
        let text = String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let first = text.split(separator: "\n").first.map(String.init) ?? text
        return String(first.reversed().drop(while: { $0 == " " || $0 == "," || $0 == "\0" }).reversed())
    }


    // MARK: - Synchronisation

    public func barrier() throws {
        try check(MPI_Barrier(comm), "MPI_Barrier")
    }

    // MARK: - All-reduce

    /// Reduces `buffer` element-wise across ranks, in place (MPI_IN_PLACE).
    public func allreduce<T: MPIScalar>(inPlace buffer: UnsafeMutableBufferPointer<T>, _ op: ReduceOperation) throws {
        try check(MPI_Allreduce(MPI_IN_PLACE, buffer.baseAddress, try count(buffer.count, "MPI_Allreduce"), T.mpiDatatype, op.handle, comm), "MPI_Allreduce")
    }

    // MARK: - Gathers

    /// Every rank contributes `send.count` elements (the same count on every rank); `receive`
    /// (size × count) gets them in rank order.
    public func allgather<T: MPIScalar>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>) throws {
        precondition(receive.count == send.count * size, "allgather: receive needs size × send count elements")
        let n = try count(send.count, "MPI_Allgather")
        try check(MPI_Allgather(send.baseAddress, n, T.mpiDatatype, receive.baseAddress, n, T.mpiDatatype, comm), "MPI_Allgather")
    }

    /// Equal-count all-gather of arrays, concatenated in rank order.
    public func allgather<T: MPIScalar>(_ values: [T]) throws -> [T] {
        var out = [T](repeating: .zero, count: values.count * size)
        try values.withUnsafeBufferPointer { send in
            try out.withUnsafeMutableBufferPointer { try allgather(send, into: $0) }
        }
        return out
    }

    /// Variable-count all-gather: rank r contributes `counts[r]` elements; `receive` holds them
    /// concatenated in rank order. Every rank must pass the same `counts`.
    public func allgatherv<T: MPIScalar>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>, counts: [Int]) throws {
        precondition(counts.count == size && counts[rank] == send.count, "allgatherv: counts must have one entry per rank, this rank's equal to send.count")
        precondition(receive.count == counts.reduce(0, +), "allgatherv: receive needs the sum of counts")
        let c32 = try counts.map { try count($0, "MPI_Allgatherv") }
        var displacements = [Int32](repeating: 0, count: size)
        var total = 0
        for r in 0..<size {
            displacements[r] = try count(total, "MPI_Allgatherv")
            total += counts[r]
        }
        try check(MPI_Allgatherv(send.baseAddress, c32[rank], T.mpiDatatype, receive.baseAddress, c32, displacements, T.mpiDatatype, comm), "MPI_Allgatherv")
    }

    /// Variable-count all-gather of arrays; counts are exchanged first. Returns the
    /// concatenation in rank order and each rank's count.
    public func allgatherv<T: MPIScalar>(_ values: [T]) throws -> (values: [T], counts: [Int]) {
        let counts = try allgather([Int64(values.count)]).map(Int.init)
        let total = counts.reduce(0, +)
        var out = [T](repeating: .zero, count: total)
        try values.withUnsafeBufferPointer { send in
            try out.withUnsafeMutableBufferPointer { try allgatherv(send, into: $0, counts: counts) }
        }
        return (out, counts)
    }

    // MARK: - Reduce-scatter

    /// Reduces `send` (sum of `counts` elements, same layout on every rank) element-wise across
    /// ranks and leaves block r (`counts[r]` elements) on rank r, in `receive`.
    public func reduceScatter<T: MPIScalar>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>, counts: [Int], _ op: ReduceOperation) throws {
        precondition(counts.count == size && receive.count == counts[rank], "reduceScatter: receive must hold this rank's block")
        precondition(send.count == counts.reduce(0, +), "reduceScatter: send must hold every rank's block")
        let c32 = try counts.map { try count($0, "MPI_Reduce_scatter") }
        try check(MPI_Reduce_scatter(send.baseAddress, receive.baseAddress, c32, T.mpiDatatype, op.handle, comm), "MPI_Reduce_scatter")
    }

    // MARK: - Non-blocking all-reduce

    /// Starts an in-place all-reduce of `buffer` and returns its handle. `owner` is the object
    /// that owns `buffer`'s memory; the request retains it until the operation completes, so the
    /// memory cannot be freed while MPI reads and writes it. Progress happens inside MPI calls:
    /// call `test()` now and then (e.g. between layers) or `wait()`.
    public func startAllreduce<T: MPIScalar>(inPlace buffer: UnsafeMutableBufferPointer<T>, owner: AnyObject, _ op: ReduceOperation) throws -> AllreduceRequest<T> {
        let request = AllreduceRequest<T>(communicator: self, buffer: buffer, owner: owner)
        try check(MPI_Iallreduce(MPI_IN_PLACE, buffer.baseAddress, try count(buffer.count, "MPI_Iallreduce"), T.mpiDatatype, op.handle, comm, &request.handle), "MPI_Iallreduce")
        request.active = true
        return request
    }

    /// The datatype of one list of `slots` `RankedScore`s and the merge-top-k operation
    /// (CMPI's `mf_merge_top_k`), each created once per process.
    func topKReduction(slots: Int) throws -> (MPI_Datatype, MPI_Op) {
        try Self.lock.locked { try makeTopKReduction(slots: slots) }
    }

    /// The body of `topKReduction`, under `lock`.
    private func makeTopKReduction(slots: Int) throws -> (MPI_Datatype, MPI_Op) {
        if Self.mergeTopK == nil {
            var op: MPI_Op?
            try check(mf_op_create_merge_top_k(&op), "MPI_Op_create")
            Self.mergeTopK = op
        }
        if Self.topKTypes[slots] == nil {
            var type: MPI_Datatype?
            try check(MPI_Type_contiguous(try count(slots * MemoryLayout<RankedScore>.stride, "MPI_Type_contiguous"), MPI_BYTE, &type),
                      "MPI_Type_contiguous")
            try check(MPI_Type_commit(&type), "MPI_Type_commit")
            Self.topKTypes[slots] = type
        }
        return (Self.topKTypes[slots]!, Self.mergeTopK!)
    }

    // MARK: - Abort

    /// Ends the whole job (every rank) with `message` on standard error, naming this rank and
    /// its host.
    public func abort(_ message: String, code: Int32 = 1) -> Never {
        let line = "mamfusion: \(describe(rank: rank)) (of \(size) ranks) aborting the job: \(message)\n"
        fflush(nil)  // everything printed so far goes out before the job dies
        var bytes = Array(line.utf8)
        _ = write(2, &bytes, bytes.count)
        MPI_Abort(comm, code)
        exit(code)  // MPI_Abort does not return; keep the compiler and a broken MPI honest.
    }
}

/// The handle of a non-blocking all-reduce. It retains the memory of the operation until it has
/// completed; dropping an incomplete request waits for it first (never frees memory in use).
// @unchecked Sendable: an MPI request, tested by the progress thread and waited on by its owner
// under one lock (`InFlightReductions`); MPI_THREAD_MULTIPLE allows both threads.
public final class AllreduceRequest<T: MPIScalar>: @unchecked Sendable {
    let communicator: Communicator
    let buffer: UnsafeMutableBufferPointer<T>
    /// Retained for the request's whole life: MPI uses the memory until completion, and the
    /// caller reads the reduced values from it afterwards.
    private let owner: AnyObject
    var handle: MPI_Request? = MPI_REQUEST_NULL
    var active = false

    init(communicator: Communicator, buffer: UnsafeMutableBufferPointer<T>, owner: AnyObject) {
        self.communicator = communicator
        self.buffer = buffer
        self.owner = owner
    }

    /// True once the operation has completed (drives MPI progress).
    public func test() throws -> Bool {
        guard active else { return true }
        var flag: Int32 = 0
        try communicator.check(MPI_Test(&handle, &flag, nil), "MPI_Test")
        if flag != 0 { complete() }
        return !active
    }

    /// Blocks until the operation has completed.
    public func wait() throws {
        guard active else { return }
        try communicator.check(MPI_Wait(&handle, nil), "MPI_Wait")
        complete()
    }

    public var isComplete: Bool { !active }

    private func complete() {
        active = false
    }

    deinit {
        if active { MPI_Wait(&handle, nil) }
    }
}
