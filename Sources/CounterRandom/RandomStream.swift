/// A stream of random numbers addressed by position, never by state.
///
/// Keying (DISTRIBUTED.md §2): the 64-bit `seed` is the Philox key; the counter words are
/// `(block, item, step, purpose)`, where `block` is the element index divided by the number of
/// values one Philox block yields. So a draw is a pure function of
/// (seed, purpose, step, global item index, element index): it does not depend on which rank
/// makes it, on the world size, or on what was drawn before — resuming needs only (seed, step).
///
/// - `uniform(at: i)`: U[0, 1) with 24 random bits (word `i % 4` of block `i / 4`).
/// - `normal(at: i)`: N(0, 1) by Box–Muller on the word pair `2(i % 2), 2(i % 2) + 1` of block
///   `i / 2`, computed in Double and rounded once.
public struct RandomStream: Sendable, Hashable {
    public let seed: UInt64
    public let purpose: UInt32
    public let step: UInt32
    public let item: UInt32

    @inlinable
    public init(seed: UInt64, purpose: RandomPurpose, step: UInt32 = 0, item: UInt32 = 0) {
        self.init(seed: seed, purposeCode: purpose.rawValue, step: step, item: item)
    }

    @inlinable
    public init(seed: UInt64, purposeCode: UInt32, step: UInt32 = 0, item: UInt32 = 0) {
        self.seed = seed
        self.purpose = purposeCode
        self.step = step
        self.item = item
    }

    @inlinable
    var key: Philox4x32.Key { (UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32)) }

    /// The four raw words of block `block`.
    @inlinable
    public func words(block: UInt32) -> Philox4x32.Counter {
        Philox4x32.block(counter: (block, item, step, purpose), key: key)
    }

    /// Raw 32-bit word number `index` of the stream.
    @inlinable
    public func word(at index: Int) -> UInt32 {
        let w = words(block: UInt32(truncatingIfNeeded: index >> 2))
        switch index & 3 {
        case 0: return w.0
        case 1: return w.1
        case 2: return w.2
        default: return w.3
        }
    }

    /// U[0, 1) from the top 24 bits of word `index` (exactly representable in Float).
    @inlinable
    public func uniform(at index: Int) -> Float {
        Float(word(at: index) >> 8) * 0x1p-24
    }

    /// An integer uniform in 0..<n (n ≥ 1) from 64 bits (two words) of double-word `index`, by
    /// multiply-shift; the bias is below 2^-32 for any n used here.
    @inlinable
    public func integer(below n: Int, at index: Int) -> Int {
        precondition(n >= 1, "integer(below:) needs n ≥ 1")
        let w = words(block: UInt32(truncatingIfNeeded: index >> 1))
        let bits = (index & 1) == 0 ? (UInt64(w.0) << 32 | UInt64(w.1)) : (UInt64(w.2) << 32 | UInt64(w.3))
        return Int(bits.multipliedFullWidth(by: UInt64(n)).high)
    }

    /// N(0, 1) draw number `index` (Box–Muller, one output per word pair).
    @inlinable
    public func normal(at index: Int) -> Float {
        let w = words(block: UInt32(truncatingIfNeeded: index >> 1))
        let (a, b) = (index & 1) == 0 ? (w.0, w.1) : (w.2, w.3)
        let u1 = (Double(a) + 1.0) * 0x1p-32  // (0, 1]: log is finite
        let u2 = Double(b) * 0x1p-32
        return Float((-2.0 * _log(u1)).squareRoot() * _cos(2.0 * Double.pi * u2))
    }

    /// Fills `buffer` with U[low, high) draws at indices `start ..< start + buffer.count`.
    @inlinable
    public func fillUniform(_ buffer: UnsafeMutableBufferPointer<Float>, low: Float = 0, high: Float = 1, start: Int = 0) {
        let span = high - low
        for i in 0..<buffer.count { buffer[i] = low + span * uniform(at: start + i) }
    }

    /// Fills `buffer` with N(mean, std²) draws at indices `start ..< start + buffer.count`.
    @inlinable
    public func fillNormal(_ buffer: UnsafeMutableBufferPointer<Float>, mean: Float = 0, std: Float = 1, start: Int = 0) {
        for i in 0..<buffer.count { buffer[i] = mean + std * normal(at: start + i) }
    }

    /// A uniformly random permutation of 0..<n (Fisher–Yates driven by `integer(below:at:)`).
    public func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n)
        if n < 2 { return p }
        for i in stride(from: n - 1, to: 0, by: -1) {
            let j = integer(below: i + 1, at: n - 1 - i)
            p.swapAt(i, j)
        }
        return p
    }
}

/// What a stream of random numbers is for: the `purpose` word of the Philox counter, so that
/// streams for different purposes never overlap.
public enum RandomPurpose: UInt32, Sendable {
    case initialisation = 1
    case epochPermutation = 2
    case dropout = 3
    case tripletNegative = 4
    case synthetic = 5
    case test = 6
}

@usableFromInline func _log(_ x: Double) -> Double {
    #if canImport(Glibc)
    return Glibc.log(x)
    #else
    return Foundation.log(x)
    #endif
}
@usableFromInline func _cos(_ x: Double) -> Double {
    #if canImport(Glibc)
    return Glibc.cos(x)
    #else
    return Foundation.cos(x)
    #endif
}
#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif
