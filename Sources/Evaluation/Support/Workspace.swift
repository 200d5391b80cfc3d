#if canImport(Glibc)
import Glibc
#endif

/// Every buffer the evaluator allocates comes from here, 64-byte aligned, and is counted, so a
/// run can report (and a test can check) the bytes it really allocated against its memory
/// budget. Buffers live until the workspace is released; nothing is freed or grown in between,
/// so `allocatedBytes` is also the peak.
final class Workspace {
    private(set) var allocatedBytes = 0
    private var blocks: [UnsafeMutableRawPointer] = []

    init() {}

    deinit { for block in blocks { free(block) } }

    private func raw(_ bytes: Int) -> UnsafeMutableRawPointer {
        var pointer: UnsafeMutableRawPointer? = nil
        let rounded = (max(bytes, 1) + 63) & ~63
        let rc = posix_memalign(&pointer, 64, rounded)
        precondition(rc == 0 && pointer != nil, "posix_memalign failed for \(bytes) bytes")
        blocks.append(pointer!)
        allocatedBytes += bytes
        return pointer!
    }

    /// `count` values of any plain type set to `value` (alignment up to 64 bytes).
    func values<T: BitwiseCopyable>(_ count: Int, repeating value: T) -> UnsafeMutableBufferPointer<T> {
        precondition(MemoryLayout<T>.alignment <= 64)
        let p = raw(count * MemoryLayout<T>.stride).bindMemory(to: T.self, capacity: max(count, 1))
        p.initialize(repeating: value, count: count)
        return UnsafeMutableBufferPointer(start: p, count: count)
    }

    /// `count` Floats set to `value`.
    func floats(_ count: Int, repeating value: Float) -> UnsafeMutableBufferPointer<Float> { values(count, repeating: value) }

    /// `count` Int32s set to `value`.
    func int32s(_ count: Int, repeating value: Int32) -> UnsafeMutableBufferPointer<Int32> { values(count, repeating: value) }

    /// `count` Int64s set to `value`.
    func int64s(_ count: Int, repeating value: Int64) -> UnsafeMutableBufferPointer<Int64> { values(count, repeating: value) }
}
