import CMPI
import Foundation
import Synchronization

/// A thread that ends the job if a blocking collective takes longer than the timeout, naming the
/// ranks that are stalled or gone (DISTRIBUTED.md §7).
///
/// The main thread arms it around each blocking collective (`guarding(_:_:)`). Every rank's
/// watchdog thread also answers roll calls on a private duplicate of the world communicator —
/// it answers even while its main thread is blocked in a collective. When a deadline passes, the
/// watchdog calls the roll: the ranks that do not answer within a few seconds are the stalled or
/// dead ones, and the job ends with MPI_Abort and a message naming them and their hosts. A rank
/// killed outright is also reported by `mpirun` itself. Needs MPI_THREAD_MULTIPLE (requested at
/// initialisation); without it, or on one rank, the watchdog is off.
// @unchecked Sendable: its thread and control communicator are set once in init; the armed
// deadline is shared through a Mutex; MPI calls from its thread need MPI_THREAD_MULTIPLE.
public final class CollectiveWatchdog: @unchecked Sendable {
    let world: Communicator
    public let timeout: Double
    /// The deadline and label of the collective in progress (nil: none), shared with the thread.
    private let armed = Mutex<(deadline: Date?, label: String)>((nil, ""))
    private var thread: Thread?
    private var control: MPI_Comm?
    static let pingTag: Int32 = 21, answerTag: Int32 = 22

    public init(world: Communicator, timeout: Double) throws {
        self.world = world
        self.timeout = timeout
        guard world.size > 1, world.threadLevel >= 3 else { return }
        var dup: MPI_Comm? = nil
        try world.check(MPI_Comm_dup(world.comm, &dup), "MPI_Comm_dup")
        control = dup
        let t = Thread { [weak self] in
            while let self {
                self.answerRollCalls()
                let (expired, label) = self.armed.withLock { ($0.deadline.map { Date() > $0 } ?? false, $0.label) }
                if expired { self.callTheRollAndAbort(label) }
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
        t.name = "collective-watchdog"
        t.start()
        thread = t
    }

    /// Runs `body` (which performs blocking collectives) under the deadline.
    public func guarding<R>(_ label: @autoclosure () -> String, _ body: () throws -> R) rethrows -> R {
        guard thread != nil else { return try body() }
        let armedAt = (deadline: Date().addingTimeInterval(timeout), label: label())
        armed.withLock { $0 = armedAt }
        defer { armed.withLock { $0.deadline = nil } }
        return try body()
    }

    /// Replies to every pending roll call (from the watchdog thread).
    private func answerRollCalls() {
        guard let control else { return }
        while true {
            var flag: Int32 = 0
            var status = MPI_Status()
            guard MPI_Iprobe(MPI_ANY_SOURCE_VALUE, Self.pingTag, control, &flag, &status) == MPI_SUCCESS, flag != 0 else { return }
            var ping: Int32 = 0
            MPI_Recv(&ping, 1, MPI_INT32_T, status.MPI_SOURCE, Self.pingTag, control, nil)
            var answer = Int32(world.rank)
            MPI_Send(&answer, 1, MPI_INT32_T, status.MPI_SOURCE, Self.answerTag, control)
        }
    }

    /// Pings every other rank's watchdog, waits a few seconds for answers, then aborts naming the
    /// ranks that did not answer.
    private func callTheRollAndAbort(_ label: String) -> Never {
        guard let control else { world.abort("\(label) timed out") }
        let others = (0..<world.size).filter { $0 != world.rank }
        let answers = UnsafeMutablePointer<Int32>.allocate(capacity: world.size)
        let ping = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
        ping.pointee = Int32(world.rank)
        var receives = [MPI_Request?](repeating: MPI_REQUEST_NULL, count: others.count)
        var sends = [MPI_Request?](repeating: MPI_REQUEST_NULL, count: others.count)
        for (i, r) in others.enumerated() {
            MPI_Irecv(answers + r, 1, MPI_INT32_T, Int32(r), Self.answerTag, control, &receives[i])
            MPI_Isend(ping, 1, MPI_INT32_T, Int32(r), Self.pingTag, control, &sends[i])
        }
        var answered = [Bool](repeating: false, count: others.count)
        let patience = Date().addingTimeInterval(min(max(timeout / 4, 2), 10))
        while answered.contains(false) && Date() < patience {
            answerRollCalls()  // another rank may be calling the roll at the same time
            for i in others.indices where !answered[i] {
                var flag: Int32 = 0
                MPI_Test(&receives[i], &flag, nil)
                if flag != 0 { answered[i] = true }
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        let silent = others.indices.filter { !answered[$0] }.map { others[$0] }
        let who = silent.isEmpty ? "every rank answered a roll call, so the collective itself is stuck"
            : "\(world.describe(ranks: silent)) did not answer (stalled or gone)"
        world.abort("\(label) did not complete within \(Int(timeout)) s (collective_timeout); \(who); stopping the job instead of waiting forever")
    }
}
