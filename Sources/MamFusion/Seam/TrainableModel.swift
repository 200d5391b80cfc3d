import FeatureData

/// A retrieval model as the trainer, `bench model` and evaluation run it — all through these
/// calls, so a model is one type (one folder under `Models/`) plus a line in `ModelRegistry`.
///
/// A training step (`DistributedStep`, DISTRIBUTED.md §1–4) runs a model like this:
///
///     encode (each micro-batch) → head.forward → head.backward → backward (micro-batches in reverse)
///
/// 1. `encode` writes the embeddings of one micro-batch (this rank's videos and their queries)
///    into step-owned slots of the model's `embeddings` layout, keeping what backward needs;
/// 2. the model's head (`makeHead()`) computes the loss of the **global** batch from every rank's
///    embeddings, in shards (`ShardedHead`), and hands back ∂L/∂ of this rank's embeddings;
/// 3. `backward` takes those gradients back through the encoders, accumulating parameter
///    gradients, and calls `groupDone` as each of its `ParameterGroup`s becomes final — the
///    gradient all-reduce of that group starts at once and overlaps the rest of backward.
///
/// Evaluation runs `encodeForEvaluation` (one pass, no dropout, no head) over a split.
///
/// Parameters live in one flat `ParameterSet` of the model's `layout` (checkpoint names, groups
/// in backward order); gradients in a second set of the same layout, owned by the model.
/// (`SendableMetatype`: `ModelRegistry` hands model types across threads.)
public protocol TrainableModel: AnyObject, SendableMetatype {
    /// The name configurations (`model:`) and checkpoints (`model` attribute) use, e.g. "mamfusion".
    static var name: String { get }
    /// The name papers use, e.g. "MamFusion".
    static var displayName: String { get }
    /// The model's tensors for configuration `c`, in checkpoint order, their groups in the order
    /// `backward` makes them final.
    static func layout(_ c: RunConfiguration) -> ParameterLayout
    /// The initial parameters, a pure function of (seed, configuration) (default:
    /// `ParameterInitializer`, by tensor kind).
    static func initialize(_ parameters: ParameterSet, seed: UInt64)
    /// Whether a checkpoint without a `model` attribute whose /model tensors have these names is
    /// this model's (older files, converted reference weights; default: never).
    static func claimsUnlabelledCheckpoint(tensorNames: Set<String>) -> Bool
    /// What a training batch holds: videos with all their captions (the PRVR recipe) or
    /// (video, caption) pairs (default: videos).
    static var batchComposition: BatchComposition { get }
    /// What evaluation measures (default: partially relevant video retrieval).
    static var retrievalTask: RetrievalTask { get }
    /// How the official code's checkpoints hold this model's tensors (`export`; default: `.prvr`).
    static var referenceFormat: ReferenceFormat { get }

    /// The model of configuration `c` on `parameters` (of `layout(c)`), with zeroed gradients.
    init(configuration c: RunConfiguration, parameters: ParameterSet)

    var configuration: RunConfiguration { get }
    var parameters: ParameterSet { get }
    var gradients: ParameterSet { get }

    /// What `encode` writes and the head reads: slots per query and per video.
    var embeddings: EmbeddingLayout { get }
    /// The loss head over the global batch, bound to this model's parameters and gradients (a
    /// head may own parameter groups, e.g. MamFusion's fusion modules).
    func makeHead() -> any ShardedHead

    /// Encodes one micro-batch into `slots` (row 0 = its first video / query), keeping the
    /// activations its `backward` needs. A micro-batch may hold no query or no video.
    func encode(_ batch: EncoderBatch, into slots: EmbeddingWindow, dropout: DropoutContext)
    /// Back-propagates the embedding gradients `slots` of the micro-batch `encode` last encoded,
    /// accumulating parameter gradients; calls `groupDone` once for each of its groups (the
    /// layout's groups but the head's and `unused`), in layout order, as each becomes final.
    func backward(_ batch: EncoderBatch, from slots: EmbeddingWindow, dropout: DropoutContext,
                  groupDone: (ParameterGroup) throws -> Void) rethrows

    /// What evaluation ranks by: per video `clipsPerVideo` clip vectors and one frame vector, per
    /// query one vector, all `dimension` floats (the ranking score of MODEL.md §3).
    var evaluationShape: EvaluationShape { get }
    /// The evaluation embeddings (unnormalised) of a chunk of videos into `clips` (videos ×
    /// clipsPerVideo × dimension) and `frames` (videos × dimension); `batch` pads to the chunk's
    /// longest video.
    func encodeForEvaluation(videos: VideoInputs, batch: SequenceBatch, clips: UnsafeMutablePointer<Float>,
                             frames: UnsafeMutablePointer<Float>)
    /// The evaluation embeddings (unnormalised) of a batch of queries (queries × dimension).
    func encodeForEvaluation(queries: QueryInputs, batch: SequenceBatch, into: UnsafeMutablePointer<Float>)

    /// Useful FLOPs of a training step or of encoding, for batches of these frame and token counts.
    func flops(frames: [Int], tokens: [Int], pass: ModelFlops.Pass) -> ModelFlops
    /// Seconds in the model's named parts since the step began (`bench model`'s split).
    var partTimes: PartTimes { get }
}

extension TrainableModel {
    public static func initialize(_ parameters: ParameterSet, seed: UInt64) {
        ParameterInitializer.initialize(parameters, seed: seed)
    }

    public static func claimsUnlabelledCheckpoint(tensorNames: Set<String>) -> Bool { false }

    public static var batchComposition: BatchComposition { .videosWithCaptions }

    public static var retrievalTask: RetrievalTask { .partialRelevance }

    public static var referenceFormat: ReferenceFormat { .prvr }

    public var layout: ParameterLayout { parameters.layout }
    public var name: String { Self.name }
    public var displayName: String { Self.displayName }
}

/// What a global batch of training holds (DISTRIBUTED.md §1).
public enum BatchComposition: Sendable {
    /// `batchsize` videos, each with all of its captions (MS-SL, GMMFormer, MamFusion): an epoch
    /// visits every video once.
    case videosWithCaptions
    /// `batchsize` (video, caption) pairs (CLIP4Clip, MUSE): an epoch visits every caption once;
    /// two pairs may share a video, each is its own item of the batch.
    case captionPairs
}

/// What a model's evaluation measures.
public enum RetrievalTask: Sendable {
    /// Text→video over untrimmed videos by the clip/frame ranking score: R@1/5/10/100, SumR,
    /// median and mean rank (MODEL.md §8; `ShardedEvaluator`).
    case partialRelevance
    /// Text→video and video→text with one vector per video and caption: R@1/5/10, median and
    /// mean rank in each direction, model selection by RSum (MUSE.md §5; `TextVideoEvaluator`).
    case textVideo
}

/// The shape of a model's evaluation embeddings (see `TrainableModel.evaluationShape`).
public struct EvaluationShape: Sendable, Equatable {
    public let clipsPerVideo: Int
    public let dimension: Int
    public init(clipsPerVideo: Int, dimension: Int) {
        self.clipsPerVideo = clipsPerVideo
        self.dimension = dimension
    }
}

extension RunConfiguration {
    /// The model type this configuration names (`model:`; validated when the configuration is).
    public var modelType: any TrainableModel.Type {
        guard let type = ModelRegistry.model(named: model) else {
            preconditionFailure("model '\(model)' is not registered (validate the configuration first)")
        }
        return type
    }

    /// This configuration's model on `parameters` (default: fresh zeroed parameters of its layout).
    public func makeModel(parameters: ParameterSet? = nil) -> any TrainableModel {
        let type = modelType
        return type.init(configuration: self, parameters: parameters ?? ParameterSet(layout: type.layout(self)))
    }
}
