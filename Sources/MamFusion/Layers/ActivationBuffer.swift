import TensorKit

/// A reusable activation or workspace buffer: `reserve(n)` allocates only when `n` exceeds what
/// it already holds, so a training step of a shape seen before allocates nothing.
public final class ActivationBuffer {
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
public struct ParameterBinding {
    public let value: UnsafeMutablePointer<Float>
    public let gradient: UnsafeMutablePointer<Float>

    public init(_ name: String, parameters: ParameterSet, gradients: ParameterSet) {
        value = parameters.pointer(name)
        gradient = gradients.pointer(name)
    }
}

/// Temporary buffers shared by all layers of a model. A layer's backward (and the short-lived
/// temporaries of its forward) runs while no other layer runs, so every layer can draw its
/// temporaries from the same numbered slots: memory for temporaries is paid once per model, not
/// once per layer. Only values that must survive until backward live in a layer's own
/// `ActivationBuffer`s.
///
/// Rule for callers: a slot's contents are valid only until the next call into another layer;
/// a buffer handed from one layer to another (an upstream gradient, an output) is never a slot.
public final class ScratchArena {
    private var slots: [ActivationBuffer] = []
    public init() {}

    /// A pointer to at least `count` floats of slot `index` (contents unspecified).
    public func slot(_ index: Int, _ count: Int) -> UnsafeMutablePointer<Float> {
        while slots.count <= index { slots.append(ActivationBuffer()) }
        return slots[index].reserve(count)
    }

    /// Slot `index`, zero-filled over `count` floats.
    public func zeroed(_ index: Int, _ count: Int) -> UnsafeMutablePointer<Float> {
        let p = slot(index, count)
        p.update(repeating: 0, count: count)
        return p
    }

    private var mamba: MambaScratch?

    /// The one `MambaScratch` all Mamba units share, with room for at least `rows` rows
    /// (replaced by a larger one when needed; units then rebuild their workspaces).
    public func mambaScratch(dimensions: ModelDimensions, rows: Int) -> MambaScratch {
        if let m = mamba, m.dimensions == dimensions, m.rows >= rows { return m }
        let m = MambaScratch(dimensions: dimensions, rows: rows)
        mamba = m
        return m
    }

    /// The shared Mamba scratch as it is now (nil before the first Mamba unit ran).
    public var currentMambaScratch: MambaScratch? { mamba }

    /// Bytes held by all slots and the Mamba scratch.
    public var bytes: Int { slots.reduce(0) { $0 + $1.bytes } + (mamba?.byteCount ?? 0) }
}

/// A reusable buffer of values other than activations (arg-max indices, scored records):
/// like `ActivationBuffer`, `reserve(n)` allocates only when `n` exceeds what it already holds.
public final class ReusableBuffer<Element> {
    public private(set) var pointer = UnsafeMutablePointer<Element>.allocate(capacity: 1)
    public private(set) var capacity = 1
    public init() {}
    deinit { pointer.deallocate() }

    /// A pointer to at least `count` elements (contents unspecified: elements must be trivial
    /// values, written before they are read).
    @discardableResult
    public func reserve(_ count: Int) -> UnsafeMutablePointer<Element> {
        if count > capacity {
            pointer.deallocate()
            capacity = count + count / 8
            pointer = .allocate(capacity: capacity)
        }
        return pointer
    }

    /// Bytes held (for memory reports).
    public var bytes: Int { capacity * MemoryLayout<Element>.stride }
}

/// Arg-max positions and other indices.
public typealias IndexBuffer = ReusableBuffer<Int32>
