import FeatureData

/// A PRVR model (MS-SL's family: GMMFormer, MamFusion): the `PRVREncoders` with the model's own
/// layers, the `PRVRLossHead` with the model's query-diverse stage. A conformer declares its name,
/// its layout (`PRVRLayout` with its additions), what follows each GMMBlock, and its head; the
/// encoders' calls are these defaults.
public protocol PRVRModel: TrainableModel {
    var encoders: PRVREncoders { get }
}

extension PRVRModel {
    public var configuration: RunConfiguration { encoders.configuration }
    public var parameters: ParameterSet { encoders.parameters }
    public var gradients: ParameterSet { encoders.gradients }
    public var embeddings: EmbeddingLayout { encoders.embeddings }

    public func encode(_ batch: EncoderBatch, into slots: EmbeddingWindow, dropout: DropoutContext) {
        encoders.encode(batch, into: slots, dropout: dropout)
    }

    public func backward(_ batch: EncoderBatch, from slots: EmbeddingWindow, dropout: DropoutContext,
                         groupDone: (ParameterGroup) throws -> Void) rethrows {
        try encoders.backward(batch, from: slots, dropout: dropout, groupDone: groupDone)
    }

    /// Mc clip vectors and the pooled frame vector per video, q per query, d floats each.
    public var evaluationShape: EvaluationShape {
        EvaluationShape(clipsPerVideo: configuration.mapSize, dimension: configuration.hiddenSize)
    }

    public func encodeForEvaluation(videos: VideoInputs, batch: SequenceBatch, clips: UnsafeMutablePointer<Float>,
                                    frames: UnsafeMutablePointer<Float>) {
        encoders.encodeForEvaluation(videos: videos, batch: batch, clips: clips, frames: frames)
    }

    public func encodeForEvaluation(queries: QueryInputs, batch: SequenceBatch, into output: UnsafeMutablePointer<Float>) {
        encoders.encodeForEvaluation(queries: queries, batch: batch, into: output)
    }
}
