import Foundation
import MamFusion
import MPIKit
import Synchronization
import TensorKit

/// The gradient all-reduce of DISTRIBUTED.md §4. The flat gradient buffer is laid out in the
/// order backward finishes the parameter groups (`ParameterLayout.groups`; MamFusion: fusion,
/// frame, clip, query), and cut here into buckets of at most `maxBytes` inside each group (whole tensors;
/// the same on every rank). When backward declares a group final (`markReady`), the
/// non-blocking all-reduce (sum, in place) of each of its buckets starts at once, so the first
/// buckets travel while the video branches and the query encoders are still going backward.
/// The `unused` group (MamFusion's `vid_embed_proj`) is never reduced.
///
/// Open MPI advances non-blocking collectives only inside MPI calls: while reductions are in
/// flight a progress thread tests them (every 200 µs). It starts with the first bucket that does
/// not complete at once, parks (no wake-ups) whenever no started bucket is pending — over shared
/// memory that is most of backward, and the time between steps — is woken by the next bucket,
/// and ends with its owner. `finish()` waits for every bucket of the step; then every rank holds
/// the same summed gradient.
///
/// Before a bucket is handed to MPI its local values are checked for NaN/Inf, so a bad gradient
/// is reported by the rank that produced it (`firstNonFinite`).
public final class GradientBuckets {
    public struct Bucket: Sendable {
        /// Float range in the flat buffer.
        public let range: Range<Int>
        public let group: ParameterGroup
        /// Indices (in `layout.specs`) of its tensors, in buffer order.
        public let tensors: [Int]
    }

    public let buckets: [Bucket]
    let gradients: ParameterSet
    let world: any World
    /// The all-reduce of each bucket this step (nil: not started), shared with the progress thread.
    private let requests: InFlightReductions
    private var ready: Set<ParameterGroup> = []
    private var progress: ProgressThread?

    /// Timing of the last step: seconds the main thread waited in `finish()`, and the wall time
    /// from the first bucket's start to the end of `finish()` (how long communication was in flight).
    public private(set) var waitSeconds = 0.0, inFlightSeconds = 0.0
    private var firstStart = 0.0
    /// The first tensor (name) whose local gradient was NaN/Inf this step, if any.
    public private(set) var firstNonFinite: String?

    public init(gradients: ParameterSet, world: any World, maxBytes: Int) {
        self.gradients = gradients
        self.world = world
        let layout = gradients.layout
        let limit = max(maxBytes / MemoryLayout<Float>.stride, 1)
        var buckets: [Bucket] = []
        for group in layout.reducedGroups {
            let tensors = layout.specs.indices.filter { layout.specs[$0].group == group }.sorted { layout.specs[$0].offset < layout.specs[$1].offset }
            var start = layout.range(of: group).lowerBound, members: [Int] = []
            for t in tensors {
                let spec = layout.specs[t]
                if !members.isEmpty && spec.offset + spec.count - start > limit {
                    buckets.append(Bucket(range: start..<spec.offset, group: group, tensors: members))
                    start = spec.offset
                    members = []
                }
                members.append(t)
            }
            if !members.isEmpty { buckets.append(Bucket(range: start..<layout.range(of: group).upperBound, group: group, tensors: members)) }
        }
        self.buckets = buckets
        requests = InFlightReductions(count: buckets.count)
    }

    /// Floats reduced per step (every bucket; the unused tensors excluded).
    public var reducedCount: Int { buckets.reduce(0) { $0 + $1.range.count } }

    /// Resets the per-step state (call before backward).
    public func beginStep() {
        ready.removeAll(keepingCapacity: true)
        requests.list.withLock { for i in $0.indices { $0[i] = nil } }
        waitSeconds = 0; inFlightSeconds = 0; firstStart = 0
        firstNonFinite = nil
    }

    /// Declares every gradient of `group` final for this step and starts the all-reduce of its
    /// buckets. Declaring a group twice does nothing.
    public func markReady(_ group: ParameterGroup) throws {
        guard group != .unused, ready.insert(group).inserted else { return }
        for b in buckets.indices where buckets[b].group == group { try start(b) }
    }

    private func start(_ b: Int) throws {
        let t0 = MonotonicClock.now()
        let bucket = buckets[b]
        if firstNonFinite == nil {
            for t in bucket.tensors {
                let spec = gradients.layout.specs[t]
                if !Vector.sumOfSquares(gradients.storage.base + spec.offset, count: spec.count).isFinite { firstNonFinite = spec.name; break }
            }
        }
        let buffer = UnsafeMutableBufferPointer(start: gradients.storage.base + bucket.range.lowerBound, count: bucket.range.count)
        let request = try world.startAllreduce(inPlace: buffer, owner: gradients.storage, .sum)
        // Read before the request is published: from then on only the holder of the lock (the
        // progress thread testing it, or `finish()` waiting on it) may touch its state.
        let completedAtStart = request.isComplete
        requests.list.withLock { $0[b] = request }
        if firstStart == 0 { firstStart = t0 }
        if !completedAtStart, world.allowsConcurrentCalls {
            if let progress {
                progress.wake()
            } else {
                progress = ProgressThread { [requests] in
                    requests.list.withLock { list in
                        var pending = false
                        for case let request? in list where !request.isComplete {
                            if (try? request.test()) != true { pending = true }
                        }
                        return pending
                    }
                }
            }
        }
    }

    /// Starts whatever has not started (every group is final now) and waits for every bucket.
    public func finish() throws {
        for group in gradients.layout.reducedGroups { try markReady(group) }
        let t0 = MonotonicClock.now()
        // Under the lock the progress thread cannot test a request this thread waits on; once
        // the list is empty it finds nothing pending and parks.
        try requests.list.withLock { list in
            defer { for i in list.indices { list[i] = nil } }
            for case let request? in list { try request.wait() }
        }
        let end = MonotonicClock.now()
        waitSeconds = end - t0
        inFlightSeconds = firstStart > 0 ? end - firstStart : 0
    }

    deinit { progress?.stop() }
}

/// The all-reduces of one step's buckets (nil: not started), shared by the thread that starts and
/// waits for them and the progress thread that tests them.
final class InFlightReductions: Sendable {
    let list: Mutex<[(any PendingReduction)?]>
    init(count: Int) { list = Mutex(Array(repeating: nil, count: count)) }
}

/// A thread that runs `poll` every 200 µs while it reports work pending, parks when it reports
/// none until `wake()`, and ends at `stop()`, which returns once the thread has ended (so nothing
/// polls a request the caller is about to wait on).
final class ProgressThread: Sendable {
    private let stopRequested = Atomic<Bool>(false)
    /// Counts `wake()` and `stop()` calls: a wake-up that comes between a poll that found nothing
    /// and the park is kept, so a new request is never left unpolled.
    private let wakeUps = DispatchSemaphore(value: 0)
    private let ended = DispatchSemaphore(value: 0)

    /// - Parameter poll: drives progress; returns whether anything is still pending.
    init(poll: @escaping @Sendable () -> Bool) {
        let thread = Thread { [self] in
            while !self.stopRequested.load(ordering: .acquiring) {
                if poll() { usleep(200) } else { self.wakeUps.wait() }
            }
            self.ended.signal()
        }
        thread.name = "mpi-progress"
        thread.start()
    }

    /// Resumes polling (a new request was started).
    func wake() { wakeUps.signal() }

    func stop() {
        stopRequested.store(true, ordering: .releasing)
        wakeUps.signal()
        ended.wait()
    }
}
