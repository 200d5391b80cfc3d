import TensorKit

/// A reusable activation or workspace buffer: `reserve(n)` allocates only when `n` exceeds what
/// it already holds, so a training step of a shape seen before allocates nothing.
public final class ActivationBuffer: @unchecked Sendable {
    public private(set) var storage = FloatStorage(count: 0)
    public init() {}

    /// A pointer to at least `count` floats (contents unspecified after growth).
    @discardableResult
    public func reserve(_ count: Int) -> UnsafeMutablePointer<Float> {
        if count > storage.count { storage = FloatStorage(count: count + count / 8) }
        return storage.base
    }

    /// A pointer to `count` zeroed floats.
    public func zeroed(_ count: Int) -> UnsafeMutablePointer<Float> {
        let p = reserve(count)
        p.update(repeating: 0, count: count)
        return p
    }

    public var pointer: UnsafeMutablePointer<Float> { storage.base }
    /// Bytes held (for memory reports).
    public var bytes: Int { storage.count * MemoryLayout<Float>.stride }
}

/// The parameter and gradient pointers of one tensor name.
public struct ParameterBinding: @unchecked Sendable {
    public let value: UnsafeMutablePointer<Float>
    public let gradient: UnsafeMutablePointer<Float>

    public init(_ name: String, parameters: ParameterSet, gradients: ParameterSet) {
        value = parameters.pointer(name)
        gradient = gradients.pointer(name)
    }
}
