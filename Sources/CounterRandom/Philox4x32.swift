/// Philox4x32 counter-based block function (Salmon et al., "Parallel Random Numbers: As Easy as
/// 1, 2, 3", SC'11; Random123). A pure function of a 128-bit counter and a 64-bit key: the same
/// (key, counter) gives the same four words on every rank, every world size and after resume,
/// which is why every random draw in this project goes through it (DISTRIBUTED.md §2).
public enum Philox4x32 {
    public typealias Counter = (UInt32, UInt32, UInt32, UInt32)
    public typealias Key = (UInt32, UInt32)

    @usableFromInline static let m0: UInt32 = 0xD251_1F53
    @usableFromInline static let m1: UInt32 = 0xCD9E_8D57
    @usableFromInline static let w0: UInt32 = 0x9E37_79B9
    @usableFromInline static let w1: UInt32 = 0xBB67_AE85

    /// The Philox4x32-R bijection of `counter` under `key`; R = 10 is the standard, Crush-resistant
    /// choice and the default.
    @inlinable
    public static func block(counter: Counter, key: Key, rounds: Int = 10) -> Counter {
        var c = counter
        var k = key
        for r in 0..<rounds {
            if r > 0 {
                k.0 &+= w0
                k.1 &+= w1
            }
            let p0 = UInt64(m0) &* UInt64(c.0)
            let p1 = UInt64(m1) &* UInt64(c.2)
            let hi0 = UInt32(truncatingIfNeeded: p0 >> 32), lo0 = UInt32(truncatingIfNeeded: p0)
            let hi1 = UInt32(truncatingIfNeeded: p1 >> 32), lo1 = UInt32(truncatingIfNeeded: p1)
            c = (hi1 ^ c.1 ^ k.0, lo1, hi0 ^ c.3 ^ k.1, lo0)
        }
        return c
    }
}
