#if canImport(Glibc)
import Glibc
#endif

/// A set of distinct ids in the order they were first inserted, stored compactly: the UTF-8
/// bytes of all ids in one buffer, their ends, and an open-addressing table of 32-bit indices
/// (load ≤ 1/2). An id costs its length + 16 bytes — what lets `mamfusion import` index a
/// collection of millions of videos and captions in a few tens of MB (a `[String: Int]` costs
/// 5–10 times as much). Ids compare by their bytes, exactly; the hash (FNV-1a, then a
/// splitmix64 finaliser) only places them, and is the same in every process.
struct IDTable: Sendable {
    private var bytes: [UInt8] = []
    /// `ends[i]`: where id i ends in `bytes` (it starts where id i − 1 ends).
    private var ends: [Int] = []
    /// Id indices, −1 for an empty slot; a power of two long.
    private var slots = [Int32](repeating: -1, count: 16)

    init() {}

    var count: Int { ends.count }

    /// The id at `index` (0 ..< count, in insertion order).
    subscript(index: Int) -> String {
        let start = index == 0 ? 0 : ends[index - 1]
        return bytes.withUnsafeBufferPointer { String(decoding: UnsafeBufferPointer(rebasing: $0[start..<ends[index]]), as: UTF8.self) }
    }

    /// The index of `id`, if it is in the table.
    func index(of id: String) -> Int? {
        var id = id
        return id.withUTF8 { key in
            let (slot, found) = probe(key, hash: Self.hash(key))
            return found ? Int(slots[slot]) : nil
        }
    }

    /// Inserts `id` unless it is there; its index either way.
    @discardableResult
    mutating func insert(_ id: String) -> (index: Int, inserted: Bool) {
        var id = id
        return id.withUTF8 { key in
            let hash = Self.hash(key)
            let (slot, found) = probe(key, hash: hash)
            if found { return (Int(slots[slot]), false) }
            precondition(ends.count < Int(Int32.max), "more than 2³¹ ids")
            let index = ends.count
            bytes.append(contentsOf: key)
            ends.append(bytes.count)
            slots[slot] = Int32(index)
            if 2 * ends.count > slots.count { grow() }
            return (index, true)
        }
    }

    /// The slot holding `key`, or the empty slot where it would go.
    private func probe(_ key: UnsafeBufferPointer<UInt8>, hash: UInt64) -> (slot: Int, found: Bool) {
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: hash) & mask
        return bytes.withUnsafeBufferPointer { stored in
            while true {
                let entry = Int(slots[slot])
                if entry < 0 { return (slot, false) }
                let start = entry == 0 ? 0 : ends[entry - 1]
                if ends[entry] - start == key.count && (key.isEmpty || memcmp(stored.baseAddress! + start, key.baseAddress!, key.count) == 0) { return (slot, true) }
                slot = (slot + 1) & mask
            }
        }
    }

    /// Doubles the slot table and places every id again.
    private mutating func grow() {
        var larger = [Int32](repeating: -1, count: slots.count * 2)
        let mask = larger.count - 1
        bytes.withUnsafeBufferPointer { stored in
            var start = 0
            for (index, end) in ends.enumerated() {
                var slot = Int(truncatingIfNeeded: Self.hash(UnsafeBufferPointer(rebasing: stored[start..<end]))) & mask
                while larger[slot] >= 0 { slot = (slot + 1) & mask }
                larger[slot] = Int32(index)
                start = end
            }
        }
        slots = larger
    }

    static func hash(_ key: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        h = (h ^ (h >> 30)) &* 0xbf58_476d_1ce4_e5b9
        h = (h ^ (h >> 27)) &* 0x94d0_49bb_1331_11eb
        return h ^ (h >> 31)
    }
}
