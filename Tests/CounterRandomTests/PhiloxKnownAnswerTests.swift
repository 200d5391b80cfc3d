import Testing
@testable import CounterRandom

/// Known-answer vectors of Philox4x32 from the Random123 distribution's `kat_vectors`
/// (counter words, key words → output words).
struct PhiloxKnownAnswerTests {
    struct Vector: Sendable {
        let rounds: Int
        let counter: (UInt32, UInt32, UInt32, UInt32)
        let key: (UInt32, UInt32)
        let expected: (UInt32, UInt32, UInt32, UInt32)
    }

    static let vectors: [Vector] = [
        Vector(rounds: 10, counter: (0, 0, 0, 0), key: (0, 0),
               expected: (0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8)),
        Vector(rounds: 10, counter: (0xffff_ffff, 0xffff_ffff, 0xffff_ffff, 0xffff_ffff), key: (0xffff_ffff, 0xffff_ffff),
               expected: (0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd)),
        Vector(rounds: 10, counter: (0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344), key: (0xa409_3822, 0x299f_31d0),
               expected: (0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1)),
        Vector(rounds: 7, counter: (0, 0, 0, 0), key: (0, 0),
               expected: (0x5f6f_b709, 0x0d89_3f64, 0x4f12_1f81, 0x4f73_0a48)),
        Vector(rounds: 7, counter: (0xffff_ffff, 0xffff_ffff, 0xffff_ffff, 0xffff_ffff), key: (0xffff_ffff, 0xffff_ffff),
               expected: (0x5207_ddc2, 0x4516_5e59, 0x4d8e_e751, 0x8c52_f662)),
        Vector(rounds: 7, counter: (0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344), key: (0xa409_3822, 0x299f_31d0),
               expected: (0x4dfc_caba, 0x190a_87f0, 0xc473_62ba, 0xb6b5_242a)),
    ]

    @Test("Philox4x32 matches the Random123 known-answer vectors", arguments: 0..<6)
    func knownAnswer(_ i: Int) {
        let v = Self.vectors[i]
        let out = Philox4x32.block(counter: v.counter, key: v.key, rounds: v.rounds)
        #expect(out.0 == v.expected.0 && out.1 == v.expected.1 && out.2 == v.expected.2 && out.3 == v.expected.3,
                "vector \(i): got \(String(out.0, radix: 16)) \(String(out.1, radix: 16)) \(String(out.2, radix: 16)) \(String(out.3, radix: 16))")
    }
}

struct RandomStreamTests {
    @Test("a stream's words are the Philox block of (element block, item, step, purpose) under the seed")
    func keying() {
        let s = RandomStream(seed: 0x299f_31d0_a409_3822, purposeCode: 0x0370_7344, step: 0x1319_8a2e, item: 0x85a3_08d3)
        let w = s.words(block: 0x243f_6a88)
        #expect(w.0 == 0xd16c_fe09 && w.1 == 0x94fd_cceb && w.2 == 0x5001_e420 && w.3 == 0x2412_6ea1)
        #expect(s.word(at: 0x243f_6a88 * 4 + 2) == 0x5001_e420)
    }

    @Test("draws depend only on their address, not on the order they are made")
    func orderIndependence() {
        let s = RandomStream(seed: 9527, purpose: .dropout, step: 3, item: 17)
        let forward = (0..<1000).map { s.uniform(at: $0) }
        let backward = (0..<1000).reversed().map { s.uniform(at: $0) }.reversed()
        #expect(forward == Array(backward))
        let other = RandomStream(seed: 9527, purpose: .dropout, step: 3, item: 18)
        #expect(forward != (0..<1000).map { other.uniform(at: $0) })
    }

    @Test("uniform draws lie in [0, 1) with mean 1/2 and variance 1/12")
    func uniformMoments() {
        let s = RandomStream(seed: 1, purpose: .test)
        let n = 200_000
        var sum = 0.0, sumSq = 0.0
        for i in 0..<n {
            let u = Double(s.uniform(at: i))
            #expect(u >= 0 && u < 1)
            sum += u; sumSq += u * u
        }
        let mean = sum / Double(n), variance = sumSq / Double(n) - mean * mean
        #expect(abs(mean - 0.5) < 0.005)
        #expect(abs(variance - 1.0 / 12.0) < 0.002)
    }

    @Test("normal draws have mean 0, variance 1 and Gaussian tails")
    func normalMoments() {
        let s = RandomStream(seed: 2, purpose: .test)
        let n = 200_000
        var sum = 0.0, sumSq = 0.0, beyond2 = 0
        for i in 0..<n {
            let z = Double(s.normal(at: i))
            #expect(z.isFinite)
            sum += z; sumSq += z * z
            if abs(z) > 2 { beyond2 += 1 }
        }
        let mean = sum / Double(n), variance = sumSq / Double(n) - mean * mean
        #expect(abs(mean) < 0.01)
        #expect(abs(variance - 1) < 0.015)
        // P(|Z| > 2) = 0.0455
        #expect(abs(Double(beyond2) / Double(n) - 0.0455) < 0.003)
    }

    @Test("integer(below:) is uniform over its range and permutation is a permutation")
    func integersAndPermutations() {
        let s = RandomStream(seed: 3, purpose: .test)
        var counts = [Int](repeating: 0, count: 7)
        for i in 0..<70_000 { counts[s.integer(below: 7, at: i)] += 1 }
        for c in counts { #expect(abs(c - 10_000) < 400) }
        let p = s.permutation(1000)
        #expect(p.sorted() == Array(0..<1000))
        #expect(p != Array(0..<1000))
        #expect(s.permutation(1000) == p)
        #expect(s.permutation(1) == [0] && s.permutation(0) == [])
    }
}
