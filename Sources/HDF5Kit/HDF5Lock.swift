#if canImport(Glibc)
import Glibc
#endif
import CHDF5
import Synchronization

/// The one lock around the HDF5 library.
///
/// The HDF5 linked here is the parallel build, which is *not* thread-safe
/// (`H5_HAVE_THREADSAFE` is undefined): two threads inside HDF5 at once corrupt its global state.
/// Every HDF5Kit entry point that touches the library therefore runs inside `HDF5Lock.sync`.
/// Entry points nest (closing a file closes its root group; a handle released inside a locked
/// call closes itself), so the lock is re-entrant: a `Mutex` plus the owning thread, so that
/// the thread that holds it runs nested calls straight through.
enum HDF5Lock {
    private static let mutex = Mutex<Void>(())
    /// The thread holding `mutex` (0: none). Only that thread can find its own id here, so a racy
    /// read by another thread is harmless: it sees some other value and waits for the mutex.
    private static let owner = Atomic<UInt>(0)

    /// Runs `body` with the library locked. On first use it also switches off HDF5's automatic
    /// printing of error stacks to stderr: failures become `HDF5Error`s instead.
    @discardableResult
    static func sync<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        let me = UInt(pthread_self())
        if owner.load(ordering: .relaxed) == me { return try body() }
        var outcome: Result<R, E>?
        mutex.withLock { _ in
            owner.store(me, ordering: .relaxed)
            _ = silenced
            outcome = Result { () throws(E) -> R in try body() }
            owner.store(0, ordering: .relaxed)
        }
        return try outcome!.get()
    }

    /// Evaluated once (Swift statics are initialised exactly once, thread-safely).
    private static let silenced: Void = {
        // There is nobody to report a failure to here; a library that cannot switch off its
        // error printing still works, it is just noisier.
        _ = H5Eset_auto2(hid_t(H5E_DEFAULT), nil, nil)
    }()
}
