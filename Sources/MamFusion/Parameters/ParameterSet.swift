import TensorKit

/// A flat buffer in a `ParameterLayout` — the model's parameters, their gradients, or one of the
/// optimiser's moments — with named views. Views share the buffer: writing through a view writes
/// the flat buffer that the all-reduce and the optimiser see.
public final class ParameterSet: Sendable {
    public let layout: ParameterLayout
    public let storage: FloatStorage

    /// A zero-filled buffer of `layout` (the process ends if memory is exhausted: see
    /// `FloatStorage.init(count:)`).
    public init(layout: ParameterLayout) {
        self.layout = layout
        self.storage = FloatStorage(count: layout.bufferCount)
    }

    /// A zero-filled buffer of `layout`; a failed allocation is an `AllocationError` naming
    /// `what` (for buffers sized by a user's configuration: parameters, optimiser moments).
    public init(allocating layout: ParameterLayout, for what: String) throws {
        self.layout = layout
        self.storage = try FloatStorage(allocating: layout.bufferCount, for: what)
    }

    /// The tensor named `name`, in its reference (PyTorch) shape.
    public func tensor(_ name: String) -> Tensor {
        let s = layout[name]
        return Tensor(storage: storage, offset: s.offset, shape: s.shape)
    }

    public func tensor(_ spec: ParameterSpec) -> Tensor {
        Tensor(storage: storage, offset: spec.offset, shape: spec.shape)
    }

    /// Pointer to the first element of `name`.
    public func pointer(_ name: String) -> UnsafeMutablePointer<Float> { storage.base + layout[name].offset }

    /// Sets every value (padding included) to zero.
    public func zero() { storage.buffer.update(repeating: 0) }

    /// Runs `body` with these parameters registered as the matrix engine's weights: in bf16 their
    /// rounded copy is made once for the whole of `body` (MATMUL.md §3). The parameters must not
    /// change inside `body` — a step's forward and backward, an evaluation; not the optimizer.
    public func asEngineWeights<R>(_ body: () throws -> R) rethrows -> R {
        try MatrixEngine.withWeights(storage.base, count: storage.count, body)
    }

    /// Copies all values from `other` (same layout).
    public func copy(from other: ParameterSet) {
        precondition(other.layout.bufferCount == layout.bufferCount, "copy between different layouts")
        storage.base.update(from: other.storage.base, count: layout.bufferCount)
    }
}
