import Synchronization

extension Mutex where Value == Void {
    /// Runs `body` while holding the lock and returns what it returns. `withLock` asks for a
    /// `sending` result; this takes any value, since nothing of it is shared: it only leaves
    /// through this call. The project's one lock type is `Synchronization.Mutex`.
    public borrowing func locked<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        var outcome: Result<R, E>?
        withLock { _ in outcome = Result { () throws(E) -> R in try body() } }
        return try outcome!.get()
    }
}
