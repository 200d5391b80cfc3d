import FeatureData
import MamFusion
import TensorKit

/// A third model that lives in the tests only, to show what a model needs and nothing else: each
/// video's frame features mean-pooled and projected by one linear layer (`video_proj`), each
/// caption's token features mean-pooled and projected by another (`text_proj`), trained on
/// (video, caption) pairs with a sharded symmetric InfoNCE loss (`ToyInfoNCEHead`). No dropout.
///
///     v = W_v · mean_t(frames)        t = W_t · mean_k(tokens)        (d floats each)
///
/// No biases: the loss is invariant to shifting every caption (v2t) or every video (t2v), so a
/// bias's gradient is a sum that nearly cancels, whose rounding noise Adam would turn into
/// updates that differ with the summation order — the world size.
/// Groups in backward order: `video`, then `text`. Evaluation ranks by q̂·v̂ (one clip vector and
/// the frame vector are both v).
public final class ToyModel: TrainableModel {
    public static let name = "toy"
    public static let displayName = "Toy"
    public static let video: ParameterGroup = "video", text: ParameterGroup = "text"

    public static var batchComposition: BatchComposition { .captionPairs }

    public static func layout(_ c: RunConfiguration) -> ParameterLayout {
        var b = ParameterLayout.Builder(group: video)
        b.linear("video_proj", out: c.hiddenSize, in: c.visualFeatureSize, bias: false)
        b.group = text
        b.linear("text_proj", out: c.hiddenSize, in: c.queryFeatureSize, bias: false)
        return b.layout(model: name, groups: [video, text])
    }

    public let configuration: RunConfiguration
    public let parameters: ParameterSet
    public let gradients: ParameterSet
    public let embeddings: EmbeddingLayout
    let textSlot: EmbeddingLayout.Slot, videoSlot: EmbeddingLayout.Slot
    public let partTimes = PartTimes()
    /// The mean-pooled inputs of the micro-batch `encode` last saw (what backward multiplies by).
    let pooledVideos = ActivationBuffer(), pooledQueries = ActivationBuffer()

    public init(configuration c: RunConfiguration, parameters: ParameterSet) {
        configuration = c
        self.parameters = parameters
        gradients = ParameterSet(layout: parameters.layout)
        var layout = EmbeddingLayout()
        textSlot = layout.add("text", .query, width: c.hiddenSize)
        videoSlot = layout.add("video", .video, width: c.hiddenSize)
        embeddings = layout
    }

    public func makeHead() -> any ShardedHead { ToyInfoNCEHead(text: textSlot, video: videoSlot) }

    /// Row r of `into` = the mean of rows offsets[r] ..< offsets[r + 1] of `x` (width floats each).
    static func meanPool(_ x: UnsafePointer<Float>, offsets: [Int], width: Int, into y: UnsafeMutablePointer<Float>) {
        for r in 0..<(offsets.count - 1) {
            let out = y + r * width, n = offsets[r + 1] - offsets[r]
            out.update(repeating: 0, count: width)
            for row in offsets[r]..<offsets[r + 1] { Vector.axpy(alpha: 1, x: x + row * width, y: out, count: width) }
            Vector.scale(out, by: 1 / Float(n), into: out, count: width)
        }
    }

    private func project(videos: VideoInputs, into v: UnsafeMutablePointer<Float>) {
        let c = configuration, pooled = pooledVideos.reserve(max(videos.count * c.visualFeatureSize, 1))
        Self.meanPool(videos.frames.base, offsets: videos.frameOffsets, width: c.visualFeatureSize, into: pooled)
        Linear.forward(x: pooled, weight: parameters.pointer("video_proj.weight"), bias: nil, y: v,
                       rows: videos.count, inFeatures: c.visualFeatureSize, outFeatures: c.hiddenSize)
    }

    private func project(queries: QueryInputs, into t: UnsafeMutablePointer<Float>) {
        let c = configuration, pooled = pooledQueries.reserve(max(queries.count * c.queryFeatureSize, 1))
        Self.meanPool(queries.tokens.base, offsets: queries.tokenOffsets, width: c.queryFeatureSize, into: pooled)
        Linear.forward(x: pooled, weight: parameters.pointer("text_proj.weight"), bias: nil, y: t,
                       rows: queries.count, inFeatures: c.queryFeatureSize, outFeatures: c.hiddenSize)
    }

    public func encode(_ batch: EncoderBatch, into slots: EmbeddingWindow, dropout: DropoutContext) {
        partTimes.measure("video") { project(videos: batch.inputs.videos, into: slots.pointer(videoSlot)) }
        partTimes.measure("text") { project(queries: batch.inputs.queries, into: slots.pointer(textSlot)) }
    }

    public func backward(_ batch: EncoderBatch, from slots: EmbeddingWindow, dropout: DropoutContext,
                         groupDone: (ParameterGroup) throws -> Void) rethrows {
        let c = configuration
        partTimes.measure("video") {
            Linear.backward(x: pooledVideos.pointer, weight: parameters.pointer("video_proj.weight"), dy: slots.pointer(videoSlot), dx: nil,
                            dWeight: gradients.pointer("video_proj.weight"), dBias: nil,
                            rows: batch.videos.count, inFeatures: c.visualFeatureSize, outFeatures: c.hiddenSize)
        }
        try groupDone(Self.video)
        partTimes.measure("text") {
            Linear.backward(x: pooledQueries.pointer, weight: parameters.pointer("text_proj.weight"), dy: slots.pointer(textSlot), dx: nil,
                            dWeight: gradients.pointer("text_proj.weight"), dBias: nil,
                            rows: batch.queries.count, inFeatures: c.queryFeatureSize, outFeatures: c.hiddenSize)
        }
        try groupDone(Self.text)
    }

    public var evaluationShape: EvaluationShape { EvaluationShape(clipsPerVideo: 1, dimension: configuration.hiddenSize) }

    public func encodeForEvaluation(videos: VideoInputs, batch: SequenceBatch, clips: UnsafeMutablePointer<Float>,
                                    frames: UnsafeMutablePointer<Float>) {
        project(videos: videos, into: clips)
        frames.update(from: clips, count: videos.count * configuration.hiddenSize)
    }

    public func encodeForEvaluation(queries: QueryInputs, batch: SequenceBatch, into output: UnsafeMutablePointer<Float>) {
        project(queries: queries, into: output)
    }

    /// The two projections and the score products (forward; ×3 for a training step).
    public func flops(frames: [Int], tokens: [Int], pass: ModelFlops.Pass) -> ModelFlops {
        let c = configuration, passes = pass == .trainingStep ? 3.0 : 1.0, d = Double(c.hiddenSize)
        let V = Double(frames.count), Q = Double(tokens.count)
        return ModelFlops(queries: passes * 2 * Q * Double(c.queryFeatureSize) * d, videos: passes * 2 * V * Double(c.visualFeatureSize) * d,
                          head: pass == .trainingStep ? 3 * 2 * Q * V * d : 0)
    }
}
