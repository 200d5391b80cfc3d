import CMPI
import Foundation
import Synchronization

/// The one stall detector (DISTRIBUTED.md §7): a thread that ends the job if a blocking
/// collective takes longer than the timeout, naming the ranks that are stalled, gone, or
/// somewhere else.
///
/// The main thread arms it around each blocking collective (`guarding(_:_:)`); every rank arms it
/// around the same collectives in the same order, so the number of collectives a rank has entered
/// (its *sequence*) says where it is. Every rank's watchdog thread answers roll calls on a private
/// duplicate of the world communicator — it answers even while its main thread is blocked — with
/// its sequence and whether it is inside that collective now. When a deadline passes, the
/// watchdog calls the roll, waits a few seconds, and ends the job with MPI_Abort and a message:
/// ranks that did not answer are stalled or dead (a stopped process, a killed one); ranks that
/// answered from another place did not reach this collective (stuck in I/O or an endless loop,
/// or diverged); if every rank is inside it, the collective itself is stuck. A rank killed
/// outright is also reported by `mpirun` itself. Needs an MPI world of more than one rank with
/// MPI_THREAD_MULTIPLE (requested at initialisation); otherwise it is off.
// @unchecked Sendable: its thread and control communicator are set once in init; the armed
// state is shared through a Mutex; MPI calls from its thread need MPI_THREAD_MULTIPLE.
public final class CollectiveWatchdog: @unchecked Sendable {
    let world: any World
    public let timeout: Double
    /// What the main thread is doing, shared with the watchdog thread: the deadline and label of
    /// the collective in progress (deadline nil: none), and how many collectives it has entered.
    private struct Armed {
        var deadline: Date?
        var label = ""
        var sequence: Int64 = 0
    }
    private let armed = Mutex(Armed())
    private var thread: Thread?
    private var control: MPI_Comm?
    static let pingTag: Int32 = 21, answerTag: Int32 = 22

    public init(world: any World, timeout: Double) throws {
        self.world = world
        self.timeout = timeout
        guard let mpi = world.communicator, mpi.size > 1, mpi.threadLevel >= 3 else { return }
        var dup: MPI_Comm? = nil
        try mpi.check(MPI_Comm_dup(mpi.comm, &dup), "MPI_Comm_dup")
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
        let deadline = Date().addingTimeInterval(timeout), text = label()
        armed.withLock {
            $0.deadline = deadline
            $0.label = text
            $0.sequence += 1
        }
        defer { armed.withLock { $0.deadline = nil } }
        return try body()
    }

    /// This rank's place: [sequence, 1 if inside that collective now else 0].
    private func place() -> [Int64] {
        armed.withLock { [$0.sequence, $0.deadline == nil ? 0 : 1] }
    }

    /// Replies to every pending roll call with this rank's place (from the watchdog thread).
    private func answerRollCalls() {
        guard let control else { return }
        while true {
            var flag: Int32 = 0
            var status = MPI_Status()
            guard MPI_Iprobe(MPI_ANY_SOURCE_VALUE, Self.pingTag, control, &flag, &status) == MPI_SUCCESS, flag != 0 else { return }
            var ping: Int32 = 0
            MPI_Recv(&ping, 1, MPI_INT32_T, status.MPI_SOURCE, Self.pingTag, control, nil)
            var answer = place()
            MPI_Send(&answer, 2, MPI_INT64_T, status.MPI_SOURCE, Self.answerTag, control)
        }
    }

    /// Pings every other rank's watchdog, waits a few seconds for answers, then aborts naming the
    /// ranks that did not answer, and those that answered from another collective.
    private func callTheRollAndAbort(_ label: String) -> Never {
        guard let control, let mpi = world.communicator else { fatalError("\(label) timed out") }
        let mine = place()
        let others = (0..<world.size).filter { $0 != world.rank }
        let answers = UnsafeMutablePointer<Int64>.allocate(capacity: 2 * world.size)
        let ping = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
        ping.pointee = Int32(world.rank)
        var receives = [MPI_Request?](repeating: MPI_REQUEST_NULL, count: others.count)
        var sends = [MPI_Request?](repeating: MPI_REQUEST_NULL, count: others.count)
        for (i, r) in others.enumerated() {
            MPI_Irecv(answers + 2 * r, 2, MPI_INT64_T, Int32(r), Self.answerTag, control, &receives[i])
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
        let elsewhere = others.indices.filter { answered[$0] && [answers[2 * others[$0]], answers[2 * others[$0] + 1]] != mine }.map { others[$0] }
        var who: [String] = []
        if !silent.isEmpty { who.append("\(world.describe(ranks: silent)) did not answer (stalled or gone)") }
        if !elsewhere.isEmpty {
            let places = elsewhere.map { "\(answers[2 * $0 + 1] == 1 ? "in" : "after") collective #\(answers[2 * $0])" }
            who.append("\(world.describe(ranks: elsewhere)) did not reach it (at \(places.joined(separator: ", ")); this is #\(mine[0]))")
        }
        if who.isEmpty { who.append("every rank is inside it, so the collective itself is stuck") }
        mpi.abort("\(label) did not complete within \(Int(timeout)) s (collective_timeout); \(who.joined(separator: "; ")); "
                  + "stopping the job instead of waiting forever")
    }
}
