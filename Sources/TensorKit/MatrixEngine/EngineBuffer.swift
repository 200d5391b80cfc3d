#if canImport(Glibc)
import Glibc
#endif

/// A 64-byte aligned scratch block that only grows: operand copies and oneDNN scratchpads reuse
/// it product after product, so a step allocates nothing once its largest product has run.
final class EngineBuffer {
    private(set) var raw: UnsafeMutableRawPointer?
    private(set) var bytes = 0

    /// At least `count` elements of `T`, contents undefined.
    func reserve<T>(_ count: Int, of type: T.Type) -> UnsafeMutablePointer<T> {
        let needed = max(count, 1) * MemoryLayout<T>.stride
        if needed > bytes {
            free(raw)
            // Grow geometrically so that a slowly rising size does not reallocate every time.
            let size = max(needed, bytes + bytes / 2)
            var fresh: UnsafeMutableRawPointer? = nil
            guard posix_memalign(&fresh, 64, (size + 63) & ~63) == 0, let fresh else {
                fatalError("matrix engine: cannot allocate a \(size)-byte operand workspace")
            }
            raw = fresh
            bytes = size
        }
        return raw!.bindMemory(to: T.self, capacity: needed / MemoryLayout<T>.stride)
    }

    deinit { free(raw) }
}
