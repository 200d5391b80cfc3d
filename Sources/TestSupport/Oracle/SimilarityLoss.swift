import MamFusion

/// **Test oracle** (the single-process loss assembly that training used before the loss head was
/// sharded across ranks): the whole training loss of one global batch (MODEL.md §4), from the
/// whole score matrices and the normalised fused queries:
///
///     L = lf0·NCE(S_clip') + TRIP(S_clip) + lf1·NCE(S_frame') + TRIP(S_frame) + lf2·QDL(x̂)
///
/// Computing S from embeddings (and x̂ from qf) is the caller's job; this type produces the value,
/// each weighted term, and ∂L/∂S for the four matrices plus ∂L/∂x̂.
public struct SimilarityLoss: Sendable {
    /// The inputs of one batch, all row-major and read only. Q = labels.queryCount,
    /// V = labels.videoCount.
    public struct Inputs {
        /// S_clip (Q×V): max over clips of q̂·ĉ — carries TRIP.
        public var clip: UnsafePointer<Float>
        /// S_clip' (Q×V): unnormalised — carries lf0·NCE.
        public var clipUnnormalized: UnsafePointer<Float>
        /// S_frame (Q×V): q̂·f̂ — carries TRIP.
        public var frame: UnsafePointer<Float>
        /// S_frame' (Q×V): unnormalised — carries lf1·NCE.
        public var frameUnnormalized: UnsafePointer<Float>
        /// x̂ (Q×`fusedDimension`): the L2-normalised fused queries — carries lf2·QDL.
        public var fusedQueries: UnsafePointer<Float>
        public var fusedDimension: Int

        public init(clip: UnsafePointer<Float>, clipUnnormalized: UnsafePointer<Float>, frame: UnsafePointer<Float>,
                    frameUnnormalized: UnsafePointer<Float>, fusedQueries: UnsafePointer<Float>, fusedDimension: Int) {
            self.clip = clip
            self.clipUnnormalized = clipUnnormalized
            self.frame = frame
            self.frameUnnormalized = frameUnnormalized
            self.fusedQueries = fusedQueries
            self.fusedDimension = fusedDimension
        }
    }

    /// Gradient buffers matching `Inputs` (same shapes); `backward` accumulates into them.
    public struct Gradients {
        public var clip: UnsafeMutablePointer<Float>
        public var clipUnnormalized: UnsafeMutablePointer<Float>
        public var frame: UnsafeMutablePointer<Float>
        public var frameUnnormalized: UnsafeMutablePointer<Float>
        public var fusedQueries: UnsafeMutablePointer<Float>

        public init(clip: UnsafeMutablePointer<Float>, clipUnnormalized: UnsafeMutablePointer<Float>,
                    frame: UnsafeMutablePointer<Float>, frameUnnormalized: UnsafeMutablePointer<Float>,
                    fusedQueries: UnsafeMutablePointer<Float>) {
            self.clip = clip
            self.clipUnnormalized = clipUnnormalized
            self.frame = frame
            self.frameUnnormalized = frameUnnormalized
            self.fusedQueries = fusedQueries
        }
    }

    /// One forward pass: the weighted terms and what the backward pass needs.
    public struct Result: Sendable {
        public var terms: LossTerms
        public var clipNCE: NCELoss.Result
        public var frameNCE: NCELoss.Result
        public var clipTriplet: TripletLoss.Result
        public var frameTriplet: TripletLoss.Result
        /// The unweighted QDL.
        public var queryDiverse: Double
        /// L.
        public var value: Double { terms.total }
    }

    public let configuration: LossConfiguration

    public init(configuration: LossConfiguration) {
        self.configuration = configuration
    }

    /// The triplet sampling of global step `step` in 0-based epoch `epoch`.
    public func sampling(seed: UInt64, step: Int, epoch: Int) -> TripletSampling {
        configuration.sampling(seed: seed, step: step, epoch: epoch)
    }

    /// Computes L and its terms. `sampling` keys the triplet negatives (see `sampling(seed:step:epoch:)`).
    public func forward(_ inputs: Inputs, labels: BatchLabels, sampling: TripletSampling) -> Result {
        let c = configuration
        let clipNCE = NCELoss.forward(scores: inputs.clipUnnormalized, labels: labels)
        let frameNCE = NCELoss.forward(scores: inputs.frameUnnormalized, labels: labels)
        let clipTriplet = TripletLoss.forward(scores: inputs.clip, labels: labels, margin: c.margin,
                                              sampling: sampling, branch: .clip)
        let frameTriplet = TripletLoss.forward(scores: inputs.frame, labels: labels, margin: c.margin,
                                               sampling: sampling, branch: .frame)
        let qdl = QueryDiverseLoss.forward(normalized: inputs.fusedQueries, dimension: inputs.fusedDimension,
                                           labels: labels, alpha: c.queryDiverseAlpha, delta: c.queryDiverseDelta)
        let terms = PRVRLossTerms.terms(clipNCE: Double(c.clipNCEWeight) * clipNCE.value, clipTriplet: clipTriplet.value,
                                        frameNCE: Double(c.frameNCEWeight) * frameNCE.value, frameTriplet: frameTriplet.value,
                                        queryDiverse: Double(c.queryDiverseWeight) * qdl)
        return Result(terms: terms, clipNCE: clipNCE, frameNCE: frameNCE, clipTriplet: clipTriplet,
                      frameTriplet: frameTriplet, queryDiverse: qdl)
    }

    /// Adds `upstream` · ∂L/∂(S_clip, S_clip', S_frame, S_frame', x̂) to `gradients`
    /// (accumulated), with the negatives of `result` held fixed.
    public func backward(_ inputs: Inputs, labels: BatchLabels, result: Result, upstream: Float = 1,
                         into gradients: Gradients) {
        let c = configuration
        NCELoss.backward(scores: inputs.clipUnnormalized, labels: labels, result: result.clipNCE,
                         upstream: upstream * c.clipNCEWeight, dScores: gradients.clipUnnormalized)
        NCELoss.backward(scores: inputs.frameUnnormalized, labels: labels, result: result.frameNCE,
                         upstream: upstream * c.frameNCEWeight, dScores: gradients.frameUnnormalized)
        TripletLoss.backward(selection: result.clipTriplet.selection, labels: labels, upstream: upstream,
                             dScores: gradients.clip)
        TripletLoss.backward(selection: result.frameTriplet.selection, labels: labels, upstream: upstream,
                             dScores: gradients.frame)
        QueryDiverseLoss.backward(normalized: inputs.fusedQueries, dimension: inputs.fusedDimension, labels: labels,
                                  alpha: c.queryDiverseAlpha, delta: c.queryDiverseDelta,
                                  upstream: upstream * c.queryDiverseWeight, dNormalized: gradients.fusedQueries)
    }
}

