#if canImport(Glibc)
import Glibc
#endif

/// An owned, 64-byte aligned block of `Float`s, never resized. Tensors, parameter views and
/// gradient buckets are views into these; because it is a class, an in-flight non-blocking MPI
/// operation can retain the storage it reads and writes until it completes.
public final class FloatStorage: @unchecked Sendable {
    public let base: UnsafeMutablePointer<Float>
    public let count: Int

    /// Allocates `count` floats, zero-filled.
    public init(count: Int) {
        precondition(count >= 0, "FloatStorage needs a non-negative count")
        self.count = count
        var raw: UnsafeMutableRawPointer? = nil
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        let rc = posix_memalign(&raw, 64, (bytes + 63) & ~63)
        precondition(rc == 0 && raw != nil, "posix_memalign failed for \(bytes) bytes")
        base = raw!.bindMemory(to: Float.self, capacity: max(count, 1))
        base.initialize(repeating: 0, count: max(count, 1))
    }

    deinit { free(base) }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: base, count: count) }
}

/// A minimal tensor: a shape and a contiguous row-major view into a `FloatStorage`.
///
/// Kernels work on raw pointers with explicit dimensions (llm.c style); `Tensor` is the
/// bookkeeping around them: allocation, shape checks, and named views into flat buffers.
public struct Tensor: @unchecked Sendable {
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
