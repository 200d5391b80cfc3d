#if canImport(Glibc)
import Glibc
#endif
import CHDF5

/// The one lock around the HDF5 library.
///
/// The HDF5 linked here is the parallel build, which is *not* thread-safe
/// (`H5_HAVE_THREADSAFE` is undefined): two threads inside HDF5 at once corrupt its global state.
/// Every HDF5Kit entry point that touches the library therefore runs inside `HDF5Lock.sync`.
/// The mutex is recursive, so a locked function may call another one.
enum HDF5Lock {
    private static let mutex = RecursiveMutex()

    /// Runs `body` with the library locked. On first use it also switches off HDF5's automatic
    /// printing of error stacks to stderr: failures become `HDF5Error`s instead.
    @discardableResult
    static func sync<R>(_ body: () throws -> R) rethrows -> R {
        mutex.lock()
        defer { mutex.unlock() }
        _ = silenced
        return try body()
    }

    /// Evaluated once (Swift statics are initialised exactly once, thread-safely).
    private static let silenced: Void = {
        // There is nobody to report a failure to here; a library that cannot switch off its
        // error printing still works, it is just noisier.
        _ = H5Eset_auto2(hid_t(H5E_DEFAULT), nil, nil)
    }()
}

/// A recursive pthread mutex.
final class RecursiveMutex: @unchecked Sendable {
    private var m = pthread_mutex_t()

    init() {
        var attributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&attributes)
        pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_RECURSIVE))
        pthread_mutex_init(&m, &attributes)
        pthread_mutexattr_destroy(&attributes)
    }

    deinit { pthread_mutex_destroy(&m) }
    func lock() { pthread_mutex_lock(&m) }
    func unlock() { pthread_mutex_unlock(&m) }
}
