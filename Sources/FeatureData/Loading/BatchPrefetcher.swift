import Dispatch
import Synchronization

/// Prepares the next batch on a background thread while the current one computes.
///
/// `prefetch` starts a load on the prefetcher's own serial queue (loads run one after another,
/// in submission order) and returns at once; `next()` waits for the oldest load not yet taken
/// and returns its batch, or rethrows its error. The usual loop:
///
///     prefetcher.prefetch { try loader.loadBatch(videos: shard(step: 0)) }
///     for step in 0..<steps {
///         let batch = try prefetcher.next()
///         if step + 1 < steps { prefetcher.prefetch { try loader.loadBatch(videos: shard(step: step + 1)) } }
///         compute(batch)   // overlaps the next load
///     }
///
/// With a packed file read through collective MPI-IO, the loads do MPI collectives on their
/// thread: use independent transfers when the training thread communicates meanwhile.
public final class BatchPrefetcher<Batch: Sendable>: Sendable {
    private let queue = DispatchQueue(label: "mamfusion.feature-prefetch")
    /// Loads started and not yet taken, oldest first.
    private let pending = Mutex<[Slot]>([])

    // @unchecked Sendable: written by the load before `done.signal()`, read after `done.wait()`.
    private final class Slot: @unchecked Sendable {
        let done = DispatchSemaphore(value: 0)
        var work: (@Sendable () throws -> Batch)?
        var result: Result<Batch, any Error>?

        /// Runs the load and lets go of it *before* signalling, so that whatever the load
        /// captured (a loader, its open files) is released on this thread before the consumer
        /// continues — not later, when the queue gets round to freeing the block (possibly
        /// after the process has shut HDF5 and MPI down).
        func run() {
            if let work {
                self.work = nil
                result = Result { try work() }
            }
            done.signal()
        }
    }

    public init() {}

    /// Starts `load` in the background.
    public func prefetch(_ load: @escaping @Sendable () throws -> Batch) {
        let slot = Slot()
        slot.work = load
        pending.withLock { $0.append(slot) }
        queue.async { slot.run() }
    }

    /// Loads started and not yet taken.
    public var inFlight: Int { pending.withLock { $0.count } }

    /// Waits for the oldest started load and returns its batch (or throws its error).
    /// Throws if nothing was started.
    public func next() throws -> Batch {
        guard let slot = pending.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) else {
            throw FeatureDataError(file: "(prefetcher)", "next() called with no load started")
        }
        slot.done.wait()
        guard let result = slot.result else {
            throw FeatureDataError(file: "(prefetcher)", "load finished without a result")
        }
        return try result.get()
    }
}
