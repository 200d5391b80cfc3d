import TensorKit

/// Seconds a model spends in its named parts (e.g. the PRVR models' `text`, `clip`, `frame`,
/// and MamFusion's `mamba` and `scan` inside clip and frame), forward and backward together,
/// since `reset()` — the per-part split of `bench model`. Parts may nest; they are reported, not
/// summed.
public final class PartTimes {
    private var measured: [(name: String, seconds: Double)] = []
    private var tracked: [(name: String, read: () -> Double, reset: () -> Void)] = []

    public init() {}

    /// Every part: the measured ones in the order first seen, then the tracked ones.
    public var parts: [(name: String, seconds: Double)] { measured + tracked.map { ($0.name, $0.read()) } }

    /// Runs `body`, adding its seconds to part `name`.
    @discardableResult
    public func measure<R>(_ name: String, _ body: () throws -> R) rethrows -> R {
        let t0 = MonotonicClock.now()
        defer { add(name, seconds: MonotonicClock.now() - t0) }
        return try body()
    }

    /// Adds `seconds` to part `name` (a new part goes last).
    public func add(_ name: String, seconds: Double) {
        if let i = measured.firstIndex(where: { $0.name == name }) {
            measured[i].seconds += seconds
        } else {
            measured.append((name, seconds))
        }
    }

    /// A part timed elsewhere (e.g. by a layer's own timers): `read` gives its seconds since
    /// `reset` last ran.
    public func track(_ name: String, read: @escaping () -> Double, reset: @escaping () -> Void) {
        tracked.append((name, read, reset))
    }

    /// Every part back to zero (the names and their order are kept).
    public func reset() {
        for i in measured.indices { measured[i].seconds = 0 }
        for part in tracked { part.reset() }
    }
}
