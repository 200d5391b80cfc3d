import MamFusion

/// **Test harness**: a fusion module (`FusionAttention`, MODEL.md §2) with all its memory rows in
/// one process — the two phases the sharded PRVR head runs across ranks (`projectKeysValues`,
/// `attend`, and their backward passes) chained:
///
///     output = tgt ⊙ MHA(tgt, memory, memory)
public final class OneProcessFusion {
    public let module: FusionAttention
    let keys = ActivationBuffer(), values = ActivationBuffer(), dKeys = ActivationBuffer(), dValues = ActivationBuffer()
    private var memories = 0

    public init(_ module: FusionAttention) { self.module = module }

    /// The output of the last `forward` (targets × d).
    public var output: ActivationBuffer { module.output }

    public func forward(target: UnsafePointer<Float>, targets nt: Int, memory: UnsafePointer<Float>, memories nm: Int) {
        memories = nm
        let d = module.features, K = keys.reserve(nm * d), V = values.reserve(nm * d)
        module.projectKeysValues(memory: memory, rows: nm, keys: K, values: V)
        module.attend(target: target, targets: nt, keys: K, values: V, memories: nm)
    }

    /// Accumulates dTarget, dMemory and the parameter gradients from dy = ∂L/∂output, after
    /// `forward` with the same inputs.
    public func backward(target: UnsafePointer<Float>, memory: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                         dTarget: UnsafeMutablePointer<Float>, dMemory: UnsafeMutablePointer<Float>) {
        let d = module.features, dK = dKeys.zeroed(memories * d), dV = dValues.zeroed(memories * d)
        module.backwardAttend(target: target, keys: keys.pointer, values: values.pointer, dy: dy, dTarget: dTarget, dKeys: dK, dValues: dV)
        module.backwardKeysValues(memory: memory, rows: memories, dKeys: dK, dValues: dV, dMemory: dMemory)
    }
}
