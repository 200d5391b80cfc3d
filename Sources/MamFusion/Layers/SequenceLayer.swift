/// One layer of a video branch's stack (`VideoBranch`): packed rows (batch.rows × d) in, packed
/// rows of the same shape in `output`, keeping what its backward needs. GMMBlocks and Mamba units
/// both are one, so a branch is a list of them — GMMBlock → Mamba → GMMBlock → Mamba for
/// MamFusion, GMMBlock → GMMBlock for GMMFormer (MODEL.md §2, §10) — run in order and
/// back-propagated in reverse, with no special case for either model.
protocol SequenceLayer: AnyObject {
    var output: ActivationBuffer { get }
    func forward(_ x: UnsafePointer<Float>, batch: SequenceBatch, dropout: DropoutContext)
    /// Accumulates dx (and the layer's parameter gradients) from dy = ∂L/∂output; `x` is the
    /// input `forward` was given.
    func backward(_ x: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
                  batch: SequenceBatch, dropout: DropoutContext)
}

extension GMMBlock: SequenceLayer {}

extension MambaBlock: SequenceLayer {
    /// A Mamba unit has no dropout.
    func forward(_ x: UnsafePointer<Float>, batch: SequenceBatch, dropout: DropoutContext) {
        forward(x, batch: batch)
    }

    /// The unit keeps its input in its workspace: `x` is not needed.
    func backward(_ x: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
                  batch: SequenceBatch, dropout: DropoutContext) {
        backward(dy: dy, dx: dx, batch: batch)
    }
}
