import Testing
@testable import FeatureData

/// The `.npy` header parser and value decoding, on files made by the test's own writer
/// (`NumpyExport.npy`) and by hand.
struct NumpyArrayTests {
    static func parse(_ bytes: [UInt8]) throws -> NumpyArray {
        try bytes.withUnsafeBytes { try NumpyArray.parseHeader($0, file: "a.npy", item: "video features of 'a'") }
    }

    @Test("float32 C order, float64 kept or rounded, float16 widened, Fortran order transposed")
    func values() throws {
        let values: [Float] = [1, 2, 3, 4, 5, 6]  // 2 × 3
        let c = NumpyExport.npy(descr: "<f4", shape: [2, 3], data: NumpyExport.float32Bytes(values))
        let header = try Self.parse(c)
        #expect(header.shape == [2, 3] && header.element == .float32 && !header.fortranOrder && header.dataOffset % 64 == 0)
        #expect(ReleaseConverter.equalBits(try c.withUnsafeBytes { try header.values(from: $0, keepDouble: false, file: "a.npy", item: nil) }, .float32(values)))

        let fortranData = NumpyExport.float32Bytes([1, 4, 2, 5, 3, 6])  // column after column
        let f = NumpyExport.npy(descr: "<f4", shape: [2, 3], fortran: true, data: fortranData)
        #expect(ReleaseConverter.equalBits(try f.withUnsafeBytes { try Self.parse(f).values(from: $0, keepDouble: false, file: "a.npy", item: nil) }, .float32(values)))

        let d = NumpyExport.npy(descr: "<f8", shape: [1, 2], data: NumpyExport.float64Bytes([0.1, 2]))
        #expect(ReleaseConverter.equalBits(try d.withUnsafeBytes { try Self.parse(d).values(from: $0, keepDouble: true, file: "a.npy", item: nil) }, .float64([0.1, 2])))
        #expect(ReleaseConverter.equalBits(try d.withUnsafeBytes { try Self.parse(d).values(from: $0, keepDouble: false, file: "a.npy", item: nil) }, .float32([Float(0.1), 2])))

        let halfBits: [UInt16] = [Float16(1.5).bitPattern, Float16(-0.25).bitPattern]
        let h = NumpyExport.npy(descr: "<f2", shape: [1, 2], data: halfBits.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] })
        #expect(ReleaseConverter.equalBits(try h.withUnsafeBytes { try Self.parse(h).values(from: $0, keepDouble: false, file: "a.npy", item: nil) }, .float32([1.5, -0.25])))
    }

    @Test("version 2.0 headers (uint32 length) are read")
    func version2() throws {
        var bytes = NumpyExport.npy(descr: "<f4", shape: [1, 1], data: NumpyExport.float32Bytes([7]))
        // Re-encode the header length in 4 bytes: the header then starts 2 bytes later.
        let length = Int(bytes[8]) | Int(bytes[9]) << 8
        bytes = Array(bytes[0..<6]) + [2, 0, UInt8(length & 0xFF), UInt8(length >> 8), 0, 0] + Array(bytes[10...])
        let header = try Self.parse(bytes)
        #expect(header.shape == [1, 1] && header.dataOffset == 12 + length)
    }

    @Test("refused, naming the file and the item: wrong signature, big-endian or integer dtypes, malformed headers, truncated data",
          arguments: [
            ("not numpy at all", "no \\x93NUMPY signature"),
            ("{'descr': '>f4', 'fortran_order': False, 'shape': (1, 1), }", "dtype '>f4' is not read"),
            ("{'descr': '<i8', 'fortran_order': False, 'shape': (1, 1), }", "dtype '<i8' is not read"),
            ("{'descr': '<f4', 'shape': (1, 1), }", "it needs 'descr'"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (1, x), }", "malformed .npy header"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), } trailing", "text after the closing"),
          ])
    func refused(header: String, message: String) throws {
        let bytes: [UInt8] = header.hasPrefix("{") ? [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count), 0] + Array(header.utf8) : Array(header.utf8)
        do {
            _ = try Self.parse(bytes)
            Issue.record("accepted \(header)")
        } catch let error as FeatureDataError {
            #expect(error.file == "a.npy" && error.item == "video features of 'a'")
            #expect(error.problem.contains(message), "\(error.problem)")
        }
        let truncated = NumpyExport.npy(descr: "<f4", shape: [2, 2], data: NumpyExport.float32Bytes([1, 2, 3]))
        #expect(throws: FeatureDataError.self) { try truncated.withUnsafeBytes { try Self.parse(truncated).values(from: $0, keepDouble: false, file: "a.npy", item: nil) } }
    }
}
