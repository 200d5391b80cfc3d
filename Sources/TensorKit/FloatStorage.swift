#if canImport(Glibc)
import Glibc
#endif

/// An owned, 64-byte aligned block of `Float`s, never resized. Tensors, parameter views and
/// gradient buckets are views into these; because it is a class, an in-flight non-blocking MPI
/// operation can retain the storage it reads and writes until it completes.
// @unchecked Sendable: owned memory behind an immutable pointer; whoever writes coordinates
// (a training step at a time; an MPI request retains it until complete).
public final class FloatStorage: @unchecked Sendable {
    public let base: UnsafeMutablePointer<Float>
    public let count: Int

    /// Allocates `count` floats, zero-filled. For internal buffers whose sizes follow from
    /// already validated inputs: if the system has no memory left, the process ends with a
    /// message giving the size and exit status 71 (EX_OSERR) — a real check in every build
    /// (not a precondition, which -Ounchecked removes). Sizes taken from user input use the
    /// throwing `init(allocating:for:)` instead.
    public init(count: Int) {
        switch Self.allocate(count) {
        case .success(let pointer):
            self.count = count
            base = pointer
        case .failure(let error):
            Self.outOfMemory(error)
        }
    }

    /// Allocates `count` floats, zero-filled; a negative or unrepresentable count, or a failed
    /// allocation, is an `AllocationError` naming `what`.
    public init(allocating count: Int, for what: String) throws {
        switch Self.allocate(count) {
        case .success(let pointer):
            self.count = count
            base = pointer
        case .failure(let error):
            throw AllocationError(floats: error.floats, what: what)
        }
    }

    private static func allocate(_ count: Int) -> Result<UnsafeMutablePointer<Float>, AllocationError> {
        let floats = max(count, 1)
        let (bytes, overflow) = floats.multipliedReportingOverflow(by: MemoryLayout<Float>.stride)
        guard count >= 0, !overflow, bytes <= Int.max - 63 else { return .failure(AllocationError(floats: count, what: "")) }
        var raw: UnsafeMutableRawPointer? = nil
        guard posix_memalign(&raw, 64, (bytes + 63) & ~63) == 0, let raw else { return .failure(AllocationError(floats: count, what: "")) }
        let pointer = raw.bindMemory(to: Float.self, capacity: floats)
        pointer.initialize(repeating: 0, count: floats)
        return .success(pointer)
    }

    private static func outOfMemory(_ error: AllocationError) -> Never {
        let text = "mamfusion: out of memory: \(error.description)\n"
        _ = text.withCString { Glibc.write(2, $0, strlen($0)) }
        exit(71)
    }
    deinit { free(base) }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: base, count: count) }
}

/// An allocation that could not be made: `floats` float32 values (for `what`).
public struct AllocationError: Error, CustomStringConvertible, Sendable {
    public let floats: Int
    public let what: String
    public var description: String {
        let (bytes, overflow) = floats.multipliedReportingOverflow(by: 4)
        let size = floats < 0 ? "a negative count of \(floats) floats"
            : overflow ? "\(floats) floats (more bytes than an Int holds)"
            : "\(floats) floats (\(bytes) bytes, \((Double(bytes) / Double(1 << 30) * 10).rounded() / 10) GiB)"
        return "cannot allocate \(size)" + (what.isEmpty ? "" : " for \(what)")
    }
}

/// A minimal tensor: a shape and a contiguous row-major view into a `FloatStorage`.
///
/// Kernels work on raw pointers with explicit dimensions (llm.c style); `Tensor` is the
/// bookkeeping around them: allocation, shape checks, and named views into flat buffers.
public struct Tensor: Sendable {
    public let shape: [Int]
    public let storage: FloatStorage
    public let offset: Int
    public let count: Int

    /// A new zero-filled tensor.
    public init(shape: [Int]) {
        let n = shape.reduce(1, *)
        self.init(storage: FloatStorage(count: n), offset: 0, shape: shape)
    }

    /// A tensor holding `values` (count must equal the product of `shape`).
    public init(shape: [Int], values: [Float]) {
        self.init(shape: shape)
        precondition(values.count == count, "Tensor(shape: \(shape)) needs \(count) values, got \(values.count)")
        values.withUnsafeBufferPointer { src in pointer.update(from: src.baseAddress!, count: count) }
    }

    /// A view of `shape` into `storage` starting at `offset`.
    public init(storage: FloatStorage, offset: Int, shape: [Int]) {
        let n = shape.reduce(1, *)
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        precondition(offset >= 0 && offset + n <= storage.count, "view [\(offset), \(offset + n)) outside storage of \(storage.count)")
        self.storage = storage
        self.offset = offset
        self.shape = shape
        self.count = n
    }

    public var pointer: UnsafeMutablePointer<Float> { storage.base + offset }
    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: count) }
    public var rank: Int { shape.count }

    /// The same elements seen with another shape of equal element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        precondition(newShape.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
        return Tensor(storage: storage, offset: offset, shape: newShape)
    }

    /// Rows `start ..< start + length` along the first axis, as a view.
    public func rows(_ start: Int, _ length: Int) -> Tensor {
        precondition(!shape.isEmpty && start >= 0 && start + length <= shape[0], "rows \(start)..<\(start + length) outside \(shape)")
        let inner = shape.dropFirst().reduce(1, *)
        return Tensor(storage: storage, offset: offset + start * inner, shape: [length] + shape.dropFirst())
    }

    public func toArray() -> [Float] { Array(buffer) }

    public func fill(_ value: Float) { pointer.update(repeating: value, count: count) }
}
