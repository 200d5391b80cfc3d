/// Finds the first NaN or ±Inf in a buffer — the one check used on every value a user hands
/// us (feature rows, query features, checkpoint tensors) and on ranking scores.
///
/// The fast pass is integer-only (an all-ones exponent plus one carries into the sign bit), so
/// it vectorises, unlike a floating-point reduction whose order is fixed; only a buffer that
/// holds a non-finite value is scanned a second time for its index.
public enum NonFiniteScan {
    /// The index of the first NaN or ±Inf among `count` floats, or nil when all are finite.
    public static func first(_ x: UnsafePointer<Float>, count: Int) -> Int? {
        let bits = UnsafeRawPointer(x).assumingMemoryBound(to: UInt32.self)
        var flag: UInt32 = 0
        for i in 0..<count { flag |= ((bits[i] & 0x7F80_0000) &+ 0x0080_0000) >> 31 }
        if flag == 0 { return nil }
        for i in 0..<count where !x[i].isFinite { return i }
        return nil
    }

    /// `first` for float64 values.
    public static func first(_ x: UnsafePointer<Double>, count: Int) -> Int? {
        let bits = UnsafeRawPointer(x).assumingMemoryBound(to: UInt64.self)
        var flag: UInt64 = 0
        for i in 0..<count { flag |= ((bits[i] & 0x7FF0_0000_0000_0000) &+ 0x0010_0000_0000_0000) >> 63 }
        if flag == 0 { return nil }
        for i in 0..<count where !x[i].isFinite { return i }
        return nil
    }

    /// `first` over a buffer (nil for an empty one).
    public static func first(_ x: UnsafeBufferPointer<Float>) -> Int? {
        guard let base = x.baseAddress, !x.isEmpty else { return nil }
        return first(base, count: x.count)
    }

    /// `first` over a buffer of float64 values (nil for an empty one).
    public static func first(_ x: UnsafeBufferPointer<Double>) -> Int? {
        guard let base = x.baseAddress, !x.isEmpty else { return nil }
        return first(base, count: x.count)
    }
}
