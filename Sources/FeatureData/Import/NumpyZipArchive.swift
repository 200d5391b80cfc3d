import CZlib
import InputFiles

/// The members of a NumPy `.npz` file (what `numpy.savez` and `numpy.savez_compressed` write): a
/// zip archive of `.npy` arrays, `<key>.npy` each. Read from the complete file's bytes (one
/// video's or caption's arrays: small), through the central directory at its end; members are
/// stored (method 0) or deflated (method 8, inflated with zlib). ZIP64 archives (numpy writes
/// them for members over 4 GiB) are refused, as are encrypted members.
struct NumpyZipArchive {
    struct Member {
        let name: String
        let method: UInt16
        let compressedSize: Int
        let size: Int
        let localHeaderOffset: Int
    }

    let file: String
    let bytes: [UInt8]
    let members: [Member]

    init(bytes: [UInt8], file: String) throws {
        self.file = file
        self.bytes = bytes
        func fail(_ problem: String) -> FeatureDataError { FeatureDataError(file: file, "not a readable .npz archive: \(problem)") }
        func u16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
        func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }
        // The end-of-central-directory record: signature PK\5\6, within the last 64 KiB + 22 bytes.
        var end = -1
        var p = bytes.count - 22
        while p >= max(0, bytes.count - 22 - 0xFFFF) {
            if bytes[p] == 0x50, bytes[p + 1] == 0x4B, bytes[p + 2] == 5, bytes[p + 3] == 6 { end = p; break }
            p -= 1
        }
        guard end >= 0 else { throw fail("no end-of-central-directory record (not a zip file, or truncated)") }
        let entries = u16(end + 10), directorySize = u32(end + 12), directoryOffset = u32(end + 16)
        guard entries != 0xFFFF, directoryOffset != 0xFFFF_FFFF else { throw fail("ZIP64 archives are not read (re-save arrays under 4 GiB)") }
        guard directoryOffset + directorySize <= end else { throw fail("the central directory lies outside the file") }
        var members: [Member] = []
        var q = directoryOffset
        for _ in 0..<entries {
            guard q + 46 <= end, u32(q) == 0x0201_4B50 else { throw fail("damaged central directory") }
            let flags = u16(q + 8), method = UInt16(u16(q + 10))
            let compressed = u32(q + 20), size = u32(q + 24)
            let nameLength = u16(q + 28), extraLength = u16(q + 30), commentLength = u16(q + 32)
            let offset = u32(q + 42)
            guard q + 46 + nameLength <= end else { throw fail("damaged central directory") }
            let name = String(decoding: bytes[(q + 46)..<(q + 46 + nameLength)], as: UTF8.self)
            guard flags & 1 == 0 else { throw fail("member \(Excerpt.quote(name)) is encrypted") }
            guard compressed != 0xFFFF_FFFF, size != 0xFFFF_FFFF, offset != 0xFFFF_FFFF else { throw fail("ZIP64 member \(Excerpt.quote(name)) is not read") }
            members.append(Member(name: name, method: method, compressedSize: compressed, size: size, localHeaderOffset: offset))
            q += 46 + nameLength + extraLength + commentLength
        }
        self.members = members
    }

    /// The array names (member names without `.npy`), in archive order.
    var keys: [String] { members.map { $0.name.hasSuffix(".npy") ? String($0.name.dropLast(4)) : $0.name } }

    /// The `.npy` bytes of the member for `key`.
    func npyBytes(key: String) throws -> [UInt8] {
        guard let member = members.first(where: { $0.name == key + ".npy" || $0.name == key }) else {
            throw FeatureDataError(file: file, "no array \(Excerpt.quote(key)) in the archive (it holds \(keys.map { Excerpt.quote($0) }.joined(separator: ", ")))")
        }
        func fail(_ problem: String) -> FeatureDataError { FeatureDataError(file: file, item: "array \(Excerpt.quote(key))", problem) }
        let h = member.localHeaderOffset
        guard h + 30 <= bytes.count, bytes[h] == 0x50, bytes[h + 1] == 0x4B, bytes[h + 2] == 3, bytes[h + 3] == 4 else {
            throw fail("damaged local header")
        }
        let start = h + 30 + (Int(bytes[h + 26]) | Int(bytes[h + 27]) << 8) + (Int(bytes[h + 28]) | Int(bytes[h + 29]) << 8)
        guard start + member.compressedSize <= bytes.count else { throw fail("member data runs past the end of the file") }
        switch member.method {
        case 0:
            return Array(bytes[start..<(start + member.compressedSize)])
        case 8:
            return try inflate(start..<(start + member.compressedSize), size: member.size, fail: fail)
        default:
            throw fail("compression method \(member.method) is not read (numpy writes stored or deflated members)")
        }
    }

    /// Inflates a raw deflate stream to exactly `size` bytes.
    private func inflate(_ range: Range<Int>, size: Int, fail: (String) -> FeatureDataError) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: size)
        var stream = z_stream()
        guard mf_inflate_init_raw(&stream) == Z_OK else { throw fail("zlib could not start inflating") }
        defer { inflateEnd(&stream) }
        let status: Int32 = bytes.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { output in
                stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress! + range.lowerBound)
                stream.avail_in = UInt32(range.count)
                stream.next_out = output.baseAddress
                stream.avail_out = UInt32(size)
                return CZlib.inflate(&stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END, Int(stream.total_out) == size else {
            throw fail("damaged deflate data (zlib status \(status), \(stream.total_out) of \(size) bytes)")
        }
        return out
    }
}
