/// Useful floating-point operations of one training step (forward + backward) — or of the
/// evaluation's encoding (forward only, no loss head) — on the valid, unpadded positions of a
/// batch: the numerator of the benchmarks' GFLOP/s. Matrix products count 2·m·n·k; a backward of
/// a product costs twice its forward (∂input and ∂weight). Element-wise work (LayerNorm, softmax,
/// activations) is not counted: it is not "useful" in the GEMM sense and would flatter the rate.
/// Each model counts its own (`TrainableModel.flops`).
public struct ModelFlops: Sendable {
    /// The query (text) encoders.
    public var queries = 0.0
    /// The video encoders.
    public var videos = 0.0
    /// The loss head (0 for encoding).
    public var head = 0.0
    /// The part of `videos` and `queries` spent in recurrent scans (e.g. Mamba's selective scan,
    /// ~9 operations per (row, channel, state) forward and ~2× that backward): reported as a share.
    public var scan = 0.0
    public var total: Double { queries + videos + head }

    /// What is counted: a training step, or the evaluation's encoding of videos and queries.
    public enum Pass: Sendable { case trainingStep, encoding }

    public init(queries: Double = 0, videos: Double = 0, head: Double = 0, scan: Double = 0) {
        self.queries = queries
        self.videos = videos
        self.head = head
        self.scan = scan
    }
}
