import FeatureData
import TensorKit

/// MUSE (MUSE.md): text–video retrieval with a multi-scale bidirectional Mamba over frozen CLIP
/// tokens, trained on (video, caption) pairs with the symmetric InfoNCE.
///
/// Video encoder, per pair (its video's tokens [T, 1 + G², W], `CLIPTokenLoader`):
///
///     sequence = TokenPyramid(tokens)                     [CLS × T | ½ | 1 | 2], L × W
///     y = ResMamba_{n−1} ∘ … ∘ ResMamba_0 (sequence)      pre-norm, BiMamba v2, no final norm
///     v = CLSReadout(y, real frames)                       unit W-vector
///
/// Caption "encoder": the stored end-of-text embedding, L2-normalised (no parameters: CLIP is
/// frozen). The loss head (`MUSEHead`) is the sharded symmetric InfoNCE at logit scale 100.
///
/// Embedding slots: `video` (W per pair) and `caption` (W per pair). A micro-batch's pairs are
/// its videos (a video drawn in two pairs is encoded twice, each with its own dropout masks —
/// as the official code, which encodes every sample of its batch).
///
/// Memory: every block keeps ≈ 2·(5E + R + 2N) + 3W floats per sequence row for backward
/// (≈ 82 MB per video per block at the reference sizes, ≈ 0.33 GB per video): bound it with
/// `micro_batch`. Evaluation encodes `evaluationChunk` videos at a time, whatever the chunk it is
/// given.
public final class MUSEModel: TrainableModel {
    public static let name = "muse"
    public static let displayName = "MUSE"
    public static var batchComposition: BatchComposition { .captionPairs }
    public static var retrievalTask: RetrievalTask { .textVideo }
    public static var referenceFormat: ReferenceFormat { MUSEReference.format }

    public let configuration: RunConfiguration
    public let parameters: ParameterSet
    public let gradients: ParameterSet
    public let dimensions: MUSEDimensions
    public let embeddings: EmbeddingLayout
    let videoSlot: EmbeddingLayout.Slot, captionSlot: EmbeddingLayout.Slot
    let scratch = ScratchArena()
    let pyramid: TokenPyramid
    let blocks: [ResMambaBlock]
    let readout: CLSReadout
    /// The pyramid's output (the first block's input), and the gradients flowing down the blocks.
    let sequences = ActivationBuffer(), upper = ActivationBuffer(), lower = ActivationBuffer()
    let captionNorms = ActivationBuffer()
    public let partTimes = PartTimes()
    /// Videos the evaluation encoder runs at once (bounds its memory).
    public static let evaluationChunk = 4
    private var encoded: (batch: SequenceBatch, realFrames: [Int])?

    /// The MUSE sizes of configuration `c` (width = hidden_size).
    public static func dimensions(_ c: RunConfiguration) -> MUSEDimensions {
        MUSEDimensions(width: c.hiddenSize, grid: c.museGrid, frames: c.museFrames, state: c.museState, convolution: c.museConvolution,
                       expand: c.museExpand, blocks: c.museBlocks, maxDropout: c.museDropPath)
    }

    public static func layout(_ c: RunConfiguration) -> ParameterLayout { MUSELayout.build(model: name, c) }

    public init(configuration c: RunConfiguration, parameters: ParameterSet) {
        configuration = c
        self.parameters = parameters
        gradients = ParameterSet(layout: parameters.layout)
        let d = Self.dimensions(c)
        dimensions = d
        var layout = EmbeddingLayout()
        videoSlot = layout.add("video", .video, width: d.width)
        captionSlot = layout.add("caption", .query, width: d.width)
        embeddings = layout
        let mamba = d.mamba
        blocks = (0..<d.blocks).map { [parameters, gradients, scratch] i in
            ResMambaBlock(dimensions: mamba,
                          parameters: ResMambaBlockParameters(dimensions: mamba) { parameters.tensor("MS_mamba.\(i).\($0)") },
                          gradients: ResMambaBlockParameters(dimensions: mamba) { gradients.tensor("MS_mamba.\(i).\($0)") },
                          rate: d.dropout(block: i), site: DropoutSite(i), scratch: scratch)
        }
        let width = d.width, grads = gradients
        pyramid = TokenPyramid(dimensions: d, parameters: { scale in .init(scale: scale, width: width) { parameters.tensor($0) } },
                               gradients: c.museTrainPyramid ? { scale in .init(scale: scale, width: width) { grads.tensor($0) } } : nil,
                               scratch: scratch)
        readout = CLSReadout(width: d.width, frames: d.frames)
    }

    public func makeHead() -> any ShardedHead {
        MUSEHead(video: videoSlot, caption: captionSlot, width: dimensions.width, logitScale: Float(configuration.museLogitScale))
    }

    /// The sequence batch of `videos` pairs (each a full L-row sequence) at global positions `positions`.
    func sequenceBatch(videos: Int, positions: [Int]) -> SequenceBatch {
        SequenceBatch(lengths: Array(repeating: dimensions.sequenceLength, count: videos), globalIndices: positions)
    }

    /// Pyramid, blocks and readout of `videos` token blocks into `embeddings` (videos × W); returns
    /// the last block's output.
    @discardableResult
    func encodeVideos(tokens: UnsafePointer<Float>, realFrames: [Int], batch: SequenceBatch, dropout: DropoutContext,
                      embeddings out: UnsafeMutablePointer<Float>) -> UnsafePointer<Float> {
        let n = batch.count
        let seq = sequences.reserve(max(n * dimensions.sequenceLength * dimensions.width, 1))
        partTimes.measure("pyramid") { pyramid.forward(tokens: tokens, videos: n, sequences: seq) }
        var x = UnsafePointer(seq)
        partTimes.measure("blocks") {
            for block in blocks { x = UnsafePointer(block.forward(x, batch: batch, dropout: dropout)) }
        }
        readout.forward(x, batch: batch, realFrames: realFrames, embeddings: out)
        return x
    }

    public func encode(_ batch: EncoderBatch, into slots: EmbeddingWindow, dropout: DropoutContext) {
        let videos = batch.inputs.videos, queries = batch.inputs.queries
        if videos.count > 0 {
            let sequencesBatch = sequenceBatch(videos: videos.count, positions: batch.videos.globalIndices)
            encodeVideos(tokens: videos.frames.base, realFrames: videos.storedFrameCounts, batch: sequencesBatch, dropout: dropout,
                         embeddings: slots.pointer(videoSlot))
            encoded = (sequencesBatch, videos.storedFrameCounts)
        }
        if queries.count > 0 {
            L2Normalize.forward(x: queries.tokens.base, y: slots.pointer(captionSlot), norms: captionNorms.reserve(queries.count),
                                rows: queries.count, cols: dimensions.width)
        }
    }

    public func backward(_ batch: EncoderBatch, from slots: EmbeddingWindow, dropout: DropoutContext,
                         groupDone: (ParameterGroup) throws -> Void) rethrows {
        if let sequencesBatch = encoded?.batch, batch.inputs.videos.count > 0 {
            let n = sequencesBatch.rows * dimensions.width
            var dy = upper.zeroed(n), dx = lower.reserve(n)
            readout.backward(blocks.last!.output.pointer, embeddingGradient: slots.pointer(videoSlot), dy: dy, scratch: scratch)
            try partTimes.measure("blocks") {
                for (i, block) in blocks.enumerated().reversed() {
                    dx.update(repeating: 0, count: n)
                    block.backward(dy, dx: dx)
                    try groupDone(MUSELayout.group(block: i))
                    swap(&dy, &dx)
                }
            }
            if pyramid.isTrainable {
                partTimes.measure("pyramid") { pyramid.backward(sequenceGradient: dy) }
                try groupDone(MUSELayout.pyramidGroup)
            }
        } else {
            for i in (0..<blocks.count).reversed() { try groupDone(MUSELayout.group(block: i)) }
            if pyramid.isTrainable { try groupDone(MUSELayout.pyramidGroup) }
        }
    }

    /// One video vector per video (into `frames`; no clip vectors), one caption vector per query.
    public var evaluationShape: EvaluationShape { EvaluationShape(clipsPerVideo: 0, dimension: dimensions.width) }

    public func encodeForEvaluation(videos: VideoInputs, batch: SequenceBatch, clips: UnsafeMutablePointer<Float>,
                                    frames: UnsafeMutablePointer<Float>) {
        let w = dimensions.width
        var first = 0
        while first < videos.count {
            let n = min(Self.evaluationChunk, videos.count - first)
            let chunk = sequenceBatch(videos: n, positions: Array(batch.globalIndices[first..<first + n]))
            encodeVideos(tokens: videos.frames.base + videos.frameOffsets[first] * videos.visualDimension, realFrames: Array(videos.storedFrameCounts[first..<first + n]),
                         batch: chunk, dropout: .disabled, embeddings: frames + first * w)
            first += n
        }
        encoded = nil
    }

    public func encodeForEvaluation(queries: QueryInputs, batch: SequenceBatch, into output: UnsafeMutablePointer<Float>) {
        L2Normalize.forward(x: queries.tokens.base, y: output, norms: captionNorms.reserve(max(queries.count, 1)), rows: queries.count,
                            cols: dimensions.width)
    }

    public func flops(frames: [Int], tokens: [Int], pass: ModelFlops.Pass) -> ModelFlops {
        MUSEFlops.count(dimensions, videos: frames.count, trainPyramid: configuration.museTrainPyramid, pass: pass)
    }
}
