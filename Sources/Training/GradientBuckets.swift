import Foundation
import MamFusion
import MPIKit
import TensorKit

/// The gradient all-reduce of DISTRIBUTED.md §4: the flat gradient buffer cut into fixed
/// buckets (contiguous runs of whole tensors, at most `maxBytes` each, the same on every rank);
/// a bucket's non-blocking all-reduce (sum, in place) starts as soon as backward has finished
/// every tensor in it, and a progress thread drives the started all-reduces while backward goes
/// on (Open MPI advances non-blocking collectives only inside MPI calls). `finish()` waits for
/// all of them; then every rank holds the same summed gradient.
///
/// Before a bucket is handed to MPI its local values are checked for NaN/Inf, so a bad gradient
/// is reported by the rank that produced it (`firstNonFinite`).
public final class GradientBuckets: @unchecked Sendable {
    public struct Bucket: Sendable {
        /// Float range in the flat buffer.
        public let range: Range<Int>
        /// Indices of its tensors in the layout.
        public let tensors: Range<Int>
    }

    public let buckets: [Bucket]
    let gradients: ParameterSet
    let world: Communicator
    private var ready: [Bool]
    private var started: [Bool]
    private var requests: [AllreduceRequest<Float>?]
    private var bucketOfTensor: [Int]
    private var remaining: [Int]
    private let lock = NSLock()
    private var progress: Thread?
    private var stopProgress = false

    /// Timing of the last step: seconds the main thread waited in `finish()`, and the wall time
    /// from the first bucket's start to the end of `finish()` (how long communication was in flight).
    public private(set) var waitSeconds = 0.0, inFlightSeconds = 0.0
    private var firstStart = 0.0
    /// The first tensor (name) whose local gradient was NaN/Inf this step, if any.
    public private(set) var firstNonFinite: String?

    public init(gradients: ParameterSet, world: Communicator, maxBytes: Int) {
        self.gradients = gradients
        self.world = world
        let layout = gradients.layout
        var buckets: [Bucket] = []
        var start = 0
        var startTensor = 0
        let limit = max(maxBytes / MemoryLayout<Float>.stride, 1)
        for (i, spec) in layout.specs.enumerated() {
            let end = i + 1 < layout.specs.count ? layout.specs[i + 1].offset : layout.bufferCount
            if end - start > limit && i > startTensor {
                buckets.append(Bucket(range: start..<spec.offset, tensors: startTensor..<i))
                start = spec.offset
                startTensor = i
            }
        }
        buckets.append(Bucket(range: start..<layout.bufferCount, tensors: startTensor..<layout.specs.count))
        self.buckets = buckets
        ready = Array(repeating: false, count: layout.specs.count)
        started = Array(repeating: false, count: buckets.count)
        requests = Array(repeating: nil, count: buckets.count)
        bucketOfTensor = Array(repeating: 0, count: layout.specs.count)
        for (b, bucket) in buckets.enumerated() { for t in bucket.tensors { bucketOfTensor[t] = b } }
        remaining = buckets.map(\.tensors.count)
    }

    /// Resets the per-step state (call before backward).
    public func beginStep() {
        lock.lock()
        for i in ready.indices { ready[i] = false }
        for i in started.indices { started[i] = false; requests[i] = nil }
        remaining = buckets.map(\.tensors.count)
        lock.unlock()
        waitSeconds = 0; inFlightSeconds = 0; firstStart = 0
        firstNonFinite = nil
        startProgressThreadIfNeeded()
    }

    /// Declares the tensors selected by `isDone` final for this step; starts the all-reduce of
    /// every bucket that thereby became complete.
    public func markReady(where isDone: (ParameterSpec) -> Bool) throws {
        var complete: [Int] = []
        for (i, spec) in gradients.layout.specs.enumerated() where !ready[i] && isDone(spec) {
            ready[i] = true
            let b = bucketOfTensor[i]
            remaining[b] -= 1
            if remaining[b] == 0 { complete.append(b) }
        }
        for b in complete { try start(b) }
    }

    private func start(_ b: Int) throws {
        let t0 = MonotonicClock.now()
        let bucket = buckets[b]
        if firstNonFinite == nil {
            for t in bucket.tensors {
                let spec = gradients.layout.specs[t]
                let sum = Vector.sumOfSquares(gradients.storage.base + spec.offset, count: spec.count)
                if !sum.isFinite { firstNonFinite = spec.name; break }
            }
        }
        if world.size > 1 {
            let buffer = UnsafeMutableBufferPointer(start: gradients.storage.base + bucket.range.lowerBound, count: bucket.range.count)
            let request = try world.startAllreduce(inPlace: buffer, owner: gradients.storage, .sum)
            lock.lock()
            requests[b] = request
            lock.unlock()
        }
        started[b] = true
        if firstStart == 0 { firstStart = t0 }
    }

    /// Starts whatever has not started (every tensor is final now) and waits for every bucket.
    public func finish() throws {
        try markReady { _ in true }
        let t0 = MonotonicClock.now()
        // Hold the lock: the progress thread must not test a request this thread waits on.
        lock.lock()
        defer { lock.unlock() }
        for request in requests { try request?.wait() }
        let end = MonotonicClock.now()
        waitSeconds = end - t0
        inFlightSeconds = firstStart > 0 && world.size > 1 ? end - firstStart : 0
        for i in requests.indices { requests[i] = nil }
    }

    /// Bytes each rank sends into the all-reduce per step (the whole buffer).
    public var bytesPerStep: Int { gradients.layout.bufferCount * MemoryLayout<Float>.stride }

    private func startProgressThreadIfNeeded() {
        guard world.size > 1, progress == nil, world.threadLevel >= 3 /* MPI_THREAD_MULTIPLE */ else { return }
        let thread = Thread { [weak self] in
            while let self, !self.stopProgress {
                self.lock.lock()
                for request in self.requests {
                    if let request, !request.isComplete { _ = try? request.test() }
                }
                self.lock.unlock()
                usleep(200)
            }
        }
        thread.name = "mpi-progress"
        thread.start()
        progress = thread
    }

    deinit { stopProgress = true }
}
