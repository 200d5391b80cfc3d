/// One layer of a video branch's stack (`VideoBranch`): packed rows (batch.rows × d) in, packed
/// rows of the same shape in `output`, keeping what its backward needs. GMMBlocks and Mamba units
/// both are one, so a branch is a list of them — GMMBlock → Mamba → GMMBlock → Mamba for
/// MamFusion, GMMBlock → GMMBlock for GMMFormer (MODEL.md §2, §10): the model says what follows
/// each block, the branch runs the list in order and back-propagates it in reverse.
public protocol SequenceLayer: AnyObject {
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
    public func forward(_ x: UnsafePointer<Float>, batch: SequenceBatch, dropout: DropoutContext) {
        forward(x, batch: batch)
    }

    /// The unit keeps its input in its workspace: `x` is not needed.
    public func backward(_ x: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
                  batch: SequenceBatch, dropout: DropoutContext) {
        backward(dy: dy, dx: dx, batch: batch)
    }
}
