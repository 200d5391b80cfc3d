/// Splits text into lines at `\n` (dropping one trailing `\r` per line), fed in chunks, with a
/// maximum line length: the line-oriented text formats (caption files, `shape.txt`) are read
/// through it so that memory stays bounded by the longest *allowed* line, whatever the file.
///
/// A line longer than `maximumLineBytes` is an error as soon as that many bytes have been seen
/// without a line break — the rest of the line is never buffered — quoting only an excerpt
/// of it (`Excerpt`), with its line number.
public struct LineSplitter {
    public let file: String
    public let maximumLineBytes: Int
    /// The start of a line that continues in the next chunk.
    private var carry: [UInt8] = []
    private var line = 1
    /// Bytes fed before the current chunk, and the offset of the line held in `carry`.
    private var consumed = 0
    private var carryOffset = 0

    public init(file: String, maximumLineBytes: Int) {
        self.file = file
        self.maximumLineBytes = maximumLineBytes
    }

    /// Feeds `chunk`, calling `body(line number, line bytes)` for each line it completes.
    public mutating func feed(_ chunk: UnsafeBufferPointer<UInt8>, _ body: (Int, UnsafeBufferPointer<UInt8>) throws -> Void) throws {
        try feed(chunk) { line, _, bytes in try body(line, bytes) }
    }

    /// Feeds `chunk`, calling `body(line number, byte offset of the line in the input, line
    /// bytes)` for each line it completes.
    public mutating func feed(_ chunk: UnsafeBufferPointer<UInt8>, _ body: (Int, Int, UnsafeBufferPointer<UInt8>) throws -> Void) throws {
        defer { consumed += chunk.count }
        var start = 0
        let n = chunk.count
        while start < n {
            var end = start
            while end < n && chunk[end] != 0x0A { end += 1 }
            let piece = UnsafeBufferPointer(rebasing: chunk[start..<end])
            guard end < n else {
                // No line break in the rest of the chunk: keep it (bounded) for the next one.
                guard carry.count + piece.count <= maximumLineBytes else {
                    throw tooLong(carry + Array(piece.prefix(Excerpt.defaultLimit)), seen: carry.count + piece.count)
                }
                if carry.isEmpty { carryOffset = consumed + start }
                carry.append(contentsOf: piece)
                return
            }
            if carry.isEmpty {
                guard piece.count <= maximumLineBytes else { throw tooLong(Array(piece.prefix(Excerpt.defaultLimit)), seen: piece.count) }
                try emit(piece, offset: consumed + start, body)
            } else {
                guard carry.count + piece.count <= maximumLineBytes else {
                    throw tooLong(carry + Array(piece.prefix(Excerpt.defaultLimit)), seen: carry.count + piece.count)
                }
                carry.append(contentsOf: piece)
                let whole = carry
                carry.removeAll(keepingCapacity: true)
                try whole.withUnsafeBufferPointer { try emit($0, offset: carryOffset, body) }
            }
            start = end + 1
        }
    }

    /// Ends the input: emits a last line that had no line break.
    public mutating func finish(_ body: (Int, UnsafeBufferPointer<UInt8>) throws -> Void) throws {
        try finish { line, _, bytes in try body(line, bytes) }
    }

    /// `finish` for `feed(_:_:)` with offsets.
    public mutating func finish(_ body: (Int, Int, UnsafeBufferPointer<UInt8>) throws -> Void) throws {
        guard !carry.isEmpty else { return }
        let whole = carry
        carry.removeAll()
        try whole.withUnsafeBufferPointer { try emit($0, offset: carryOffset, body) }
    }

    private mutating func emit(_ bytes: UnsafeBufferPointer<UInt8>, offset: Int, _ body: (Int, Int, UnsafeBufferPointer<UInt8>) throws -> Void) throws {
        var count = bytes.count
        if count > 0 && bytes[count - 1] == 0x0D { count -= 1 }
        let number = line
        line += 1
        try body(number, offset, UnsafeBufferPointer(rebasing: bytes[0..<count]))
    }

    private func tooLong(_ start: [UInt8], seen: Int) -> InputFileError {
        InputFileError(file: file, line: line, "line longer than the maximum of \(maximumLineBytes) bytes (\(seen) bytes without a line break so far): \(Excerpt.quote(start.prefix(Excerpt.defaultLimit), total: seen))")
    }

    /// Splits a whole buffer (`feed` then `finish`).
    public static func lines(of bytes: UnsafeBufferPointer<UInt8>, file: String, maximumLineBytes: Int,
                             _ body: (Int, UnsafeBufferPointer<UInt8>) throws -> Void) throws {
        var splitter = LineSplitter(file: file, maximumLineBytes: maximumLineBytes)
        try splitter.feed(bytes, body)
        try splitter.finish(body)
    }

    /// Splits the file `input` as it is read, chunk by chunk.
    public static func lines(of input: InputFile, maximumLineBytes: Int, _ body: (Int, UnsafeBufferPointer<UInt8>) throws -> Void) throws {
        try lines(of: input, maximumLineBytes: maximumLineBytes) { line, _, bytes in try body(line, bytes) }
    }

    /// Splits the file `input` as it is read, with each line's byte offset in the file (to read
    /// it again later: `InputFile.read(into:at:)`).
    public static func lines(of input: InputFile, maximumLineBytes: Int, _ body: (Int, Int, UnsafeBufferPointer<UInt8>) throws -> Void) throws {
        var splitter = LineSplitter(file: input.path, maximumLineBytes: maximumLineBytes)
        try input.forEachChunk { try splitter.feed($0, body) }
        try splitter.finish(body)
    }
}
