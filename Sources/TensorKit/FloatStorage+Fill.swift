import CounterRandom

extension FloatStorage {
    /// `count` draws of offset + scale·N(0, 1) from the stream (`seed`, `purpose`, step 1):
    /// inputs for kernel benchmarks and tests, the same on every machine.
    public static func random(_ count: Int, seed: UInt64, purpose: RandomPurpose, scale: Float = 1, offset: Float = 0) -> FloatStorage {
        let s = FloatStorage(count: count)
        let stream = RandomStream(seed: seed, purpose: purpose, step: 1)
        for i in 0..<count { s.base[i] = offset + scale * stream.normal(at: i) }
        return s
    }

    /// A copy of `values`.
    public static func of(_ values: [Float]) -> FloatStorage {
        let s = FloatStorage(count: values.count)
        for (i, v) in values.enumerated() { s.base[i] = v }
        return s
    }
}
