import Testing
@testable import HDF5Kit

struct HDF5DatasetTests {
    /// Float bit patterns worth preserving: signed zeros, infinities, NaNs with payloads,
    /// subnormals, extremes, then pseudo-random bits.
    static func float32Patterns(_ count: Int) -> [Float] {
        let special: [UInt32] = [0x0000_0000, 0x8000_0000, 0x7F80_0000, 0xFF80_0000, 0x7FC0_0001,
                                 0xFFA0_1234, 0x0000_0001, 0x807F_FFFF, 0x7F7F_FFFF, 0x3F80_0000]
        var rng = SplitMix64(state: 1)
        return (0..<count).map { i in Float(bitPattern: i < special.count ? special[i] : UInt32(truncatingIfNeeded: rng.next())) }
    }

    @Test("float32 of rank 3 round-trips bit for bit, NaN payloads and signed zeros included")
    func float32RoundTrip() throws {
        try withTemporaryDirectory { dir in
            let values = Self.float32Patterns(3 * 4 * 5)
            do {
                let file = try HDF5File.create(dir + "/f.h5")
                try file.createDataset("x", values: values, shape: [3, 4, 5])
            }
            let file = try HDF5File.open(dir + "/f.h5")
            let dataset = try file.openDataset("x")
            #expect(dataset.shape == [3, 4, 5])
            #expect(dataset.elementType == HDF5ElementType(kind: .float, size: 4))
            #expect(dataset.elementType.scalarType == .float32)
            #expect(try dataset.read(as: Float.self).map(\.bitPattern) == values.map(\.bitPattern))
        }
    }

    @Test("float64, int32 and int64 round-trip exactly, extremes included")
    func otherTypesRoundTrip() throws {
        try withTemporaryDirectory { dir in
            var rng = SplitMix64(state: 2)
            let doubles = [0.0, -0.0, .infinity, -.infinity, .leastNonzeroMagnitude, .greatestFiniteMagnitude, Double(bitPattern: 0x7FF8_0000_0000_00AB)]
                + (0..<17).map { _ in Double(bitPattern: rng.next()) }
            let int32s: [Int32] = [.min, .max, 0, -1] + (0..<8).map { _ in Int32(truncatingIfNeeded: rng.next()) }
            let int64s: [Int64] = [.min, .max, 0, -1] + (0..<20).map { _ in Int64(bitPattern: rng.next()) }
            do {
                let file = try HDF5File.create(dir + "/t.h5")
                try file.createDataset("d", values: doubles, shape: [4, 6])
                try file.createDataset("i32", values: int32s, shape: [2, 2, 3])
                try file.createDataset("i64", values: int64s)
            }
            let file = try HDF5File.open(dir + "/t.h5")
            #expect(try file.readDataset("d", as: Double.self).map(\.bitPattern) == doubles.map(\.bitPattern))
            #expect(try file.readDataset("i32", as: Int32.self) == int32s)
            #expect(try file.readDataset("i64", as: Int64.self) == int64s)
            #expect(try file.openDataset("d").elementType.scalarType == .float64)
            #expect(try file.openDataset("i32").elementType == HDF5ElementType(kind: .integer(signed: true), size: 4))
            #expect(try file.openDataset("i32").shape == [2, 2, 3])
            #expect(try file.openDataset("i64").elementType.scalarType == .int64)
        }
    }

    @Test("a float64 dataset reads into Float with rounding; int32 reads into Int64")
    func conversionOnRead() throws {
        try withTemporaryDirectory { dir in
            var rng = SplitMix64(state: 3)
            let doubles = (0..<40).map { _ in Double(rng.float()) + Double(rng.float()) * 1e-9 }
            let ints: [Int32] = [-7, 0, 123_456, .max]
            let file = try HDF5File.create(dir + "/c.h5")
            let d = try file.createDataset("q", values: doubles, shape: [8, 5])
            try file.createDataset("n", values: ints)
            #expect(try d.read(as: Float.self) == doubles.map { Float($0) })
            #expect(try d.readRows(2..<4, as: Float.self) == doubles[10..<20].map { Float($0) })
            #expect(try file.readDataset("n", as: Int64.self) == ints.map { Int64($0) })
        }
    }

    @Test("scalar and zero-length datasets")
    func scalarAndEmpty() throws {
        try withTemporaryDirectory { dir in
            let file = try HDF5File.create(dir + "/s.h5")
            let scalar = try file.createDataset("step", values: [Int64(42)], shape: [])
            #expect(scalar.shape == [] && scalar.elementCount == 1)
            #expect(try scalar.read(as: Int64.self) == [42])
            let empty = try file.createDataset("none", type: .float32, shape: [0, 4], chunk: [2, 4])
            #expect(empty.shape == [0, 4])
            #expect(try empty.read(as: Float.self) == [])
            #expect(try empty.readRows(0..<0, as: Float.self) == [])
            #expect(throws: HDF5Error.self) { try scalar.readRows(0..<1, as: Int64.self) }
        }
    }

    @Test("every row range read equals the matching slice of a whole read")
    func rowRangesMatchWholeRead() throws {
        try withTemporaryDirectory { dir in
            var rng = SplitMix64(state: 4)
            let shape = [10, 3, 2]
            let values = (0..<60).map { _ in rng.float() }
            let file = try HDF5File.create(dir + "/r.h5")
            let d = try file.createDataset("x", values: values, shape: shape)
            let whole = try d.read(as: Float.self)
            #expect(d.rowLength == 6 && d.rowCount == 10)
            for start in 0...10 {
                for count in 0...(10 - start) {
                    let rows = try d.readRows(start..<(start + count), as: Float.self)
                    #expect(rows == Array(whole[(start * 6)..<((start + count) * 6)]), "rows \(start)..<\(start + count)")
                }
            }
        }
    }

    @Test("row reads into caller memory write exactly their elements and nothing after")
    func rowReadsIntoBuffer() throws {
        try withTemporaryDirectory { dir in
            let values = (0..<24).map { Float($0) }
            let file = try HDF5File.create(dir + "/b.h5")
            let d = try file.createDataset("x", values: values, shape: [6, 4])
            var memory = [Float](repeating: -1, count: 20)
            try memory.withUnsafeMutableBufferPointer { buffer in
                // Rows 1..<3 into memory[5..<13], leaving the rest alone.
                try d.readRows(1..<3, into: UnsafeMutableBufferPointer(rebasing: buffer[5..<20]))
            }
            #expect(memory == [Float](repeating: -1, count: 5) + (4..<12).map { Float($0) } + [Float](repeating: -1, count: 7))
            var all = [Double](repeating: 0, count: 24)
            try all.withUnsafeMutableBufferPointer { try d.read(into: $0) }
            #expect(all == values.map { Double($0) })
        }
    }

    @Test("a chunked dataset round-trips, row ranges across chunk borders included; oversized chunks are clamped")
    func chunked() throws {
        try withTemporaryDirectory { dir in
            let values = (0..<33).map { Int64($0 * $0) }
            do {
                let file = try HDF5File.create(dir + "/k.h5")
                try file.createDataset("rows", values: values, shape: [11, 3], chunk: [4, 3])
                try file.createDataset("big", values: values, shape: [11, 3], chunk: [100, 100])
            }
            let file = try HDF5File.open(dir + "/k.h5")
            for name in ["rows", "big"] {
                let d = try file.openDataset(name)
                #expect(try d.read(as: Int64.self) == values)
                #expect(try d.readRows(3..<9, as: Int64.self) == Array(values[9..<27]))
            }
        }
    }

    @Test("writeRows changes only those rows; whole and row writes from caller memory")
    func writeRows() throws {
        try withTemporaryDirectory { dir in
            let file = try HDF5File.create(dir + "/w.h5")
            let d = try file.createDataset("x", type: .float64, shape: [6, 2], chunk: [2, 2])
            #expect(try d.read(as: Double.self) == [Double](repeating: 0, count: 12))
            try d.writeRows(2..<5, [1, 2, 3, 4, 5, 6] as [Double])
            let ones = [Float](repeating: 9, count: 2)
            try ones.withUnsafeBufferPointer { try d.writeRows(5..<6, from: $0) }
            #expect(try d.read(as: Double.self) == [0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 9, 9])
            try d.writeRows(0..<0, [Double]())
            let fresh = (0..<12).map { Double($0) / 4 }
            try fresh.withUnsafeBufferPointer { try d.write(from: $0) }
            #expect(try d.read(as: Double.self) == fresh)
        }
    }

    @Test("wrong value counts, row ranges, buffer sizes, chunk shapes and read-only writes throw")
    func misuseThrows() throws {
        try withTemporaryDirectory { dir in
            do {
                let file = try HDF5File.create(dir + "/m.h5")
                let d = try file.createDataset("x", type: .int32, shape: [3, 2])
                #expect(throws: HDF5Error.self) { try d.write([Int32](repeating: 1, count: 5)) }
                #expect(throws: HDF5Error.self) { try d.writeRows(1..<2, [Int32(1)]) }
                #expect(throws: HDF5Error.self) { try d.readRows(2..<4, as: Int32.self) }
                var small = [Int32](repeating: 0, count: 3)
                #expect(throws: HDF5Error.self) { try small.withUnsafeMutableBufferPointer { try d.readRows(0..<2, into: $0) } }
                #expect(throws: HDF5Error.self) { try file.createDataset("y", type: .float32, shape: [4, 2], chunk: [2]) }
                #expect(throws: HDF5Error.self) { try file.createDataset("z", type: .float32, shape: [4, -1]) }
                #expect(throws: HDF5Error.self) { try file.createDataset("x", type: .float32, shape: [1]) }  // exists
                #expect(throws: HDF5Error.self) { try file.createDataset("w", values: [Float(1), 2, 3], shape: [2, 2]) }
            }
            do {
                let file = try HDF5File.open(dir + "/m.h5", mode: .readOnly)
                let d = try file.openDataset("x")
                let error = #expect(throws: HDF5Error.self) { try d.write([Int32](repeating: 1, count: 6)) }
                #expect(error?.description.contains("read-only") == true)
                #expect(throws: HDF5Error.self) { try file.setAttribute("a", .int64(1)) }
            }
            let writable = try HDF5File.open(dir + "/m.h5", mode: .readWrite)
            try writable.openDataset("x").write([Int32](repeating: 7, count: 6))
            #expect(try writable.readDataset("x", as: Int32.self) == [Int32](repeating: 7, count: 6))
        }
    }

    @Test("many tasks using HDF5Kit at once stay correct (the library lock serialises them)")
    func concurrentUse() async throws {
        try await withTemporaryDirectoryAsync { dir in
            try await withThrowingTaskGroup(of: Bool.self) { group in
                for t in 0..<8 {
                    group.addTask {
                        let values = (0..<500).map { Float($0 + t * 1000) }
                        let file = try HDF5File.create(dir + "/c\(t).h5")
                        let d = try file.createDataset("g\(t)/x", values: values, shape: [50, 10], chunk: [7, 10])
                        try d.setAttribute("task", .int64(Int64(t)))
                        var ok = true
                        for start in stride(from: 0, to: 50, by: 5) {
                            let rows = try d.readRows(start..<(start + 5), as: Float.self)
                            if rows != Array(values[(start * 10)..<((start + 5) * 10)]) { ok = false }
                        }
                        let task = try d.int64Attribute("task")
                        return ok && task == Int64(t)
                    }
                }
                for try await ok in group { #expect(ok) }
            }
        }
    }
}
