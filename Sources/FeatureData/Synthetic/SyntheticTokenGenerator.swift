import CounterRandom
import HDF5Kit

/// Generates a synthetic CLIP token collection with a planted text–video relation, streaming
/// video by video (only one video is in memory).
///
/// ## The generative model
/// - K topic centres c_k ∈ R^L ~ N(0, I); three linear views, W × L with entries ~ N(0, 1/L):
///   A for [CLS] tokens, P for patch tokens, B for caption embeddings.
/// - Video v: a topic t ~ U{0..K−1} and a latent z_v = c_t + s·e_v (e ~ N(0, I),
///   s = videoSpecificity); T_v ~ U{frames} real frames, frame f with latent
///   z_{v,f} = z_v + σ_f·ε_{v,f}.
/// - Frame f's tokens: [CLS] = A·z_{v,f} + noise; patch (i, j) = w_{ij}·P·z_{v,f} + noise with
///   w ~ U[0, 1.5) (patches carry the frame's content with varying strength). Noise is uniform
///   with unit variance times σ_e (elementNoise); the signal's elements have variance ≈ 2.
/// - The padding frame: noise only (one block for the collection, as an all-zero image gives one).
/// - Caption k of v: B·(z_v + σ_c·η_k) + noise — a paraphrase of the whole video seen through
///   another view than the tokens.
///
/// Text and video live in unrelated views (B against A and P), so an untrained head — whose
/// residual path hands the [CLS] tokens through almost unchanged — ranks at chance, while a
/// trained head learns the map from the token views to the text view and finds the video.
///
/// ## Determinism
/// Every draw comes from the counter-based generator keyed by (seed, purpose .synthetic, stream,
/// global video index, element): same recipe and seed ⇒ identical values and files.
public struct SyntheticTokenGenerator {
    public let recipe: SyntheticTokenRecipe
    let topicCentres: [Float]  // K × L
    let clsView: [Float]       // L columns of W
    let patchView: [Float]
    let textView: [Float]

    /// Counter streams (the `step` word), apart from the PRVR generator's.
    enum Stream: UInt32 {
        case topics = 32, clsView, patchView, textView, structure, videoLatent, frameLatent, tokenNoise, patchWeights,
             captionLatent, captionNoise, padding
    }

    /// One video as drawn before its tokens.
    public struct VideoPlan: Sendable {
        public let globalIndex: Int
        public let videoID: String
        public let split: String
        public let frameCount: Int
        public let topic: Int
        public let captionIDs: [String]
    }

    public init(recipe: SyntheticTokenRecipe) throws {
        try recipe.validate()
        self.recipe = recipe
        let l = recipe.effectiveLatentDimension, w = recipe.width
        let scale = 1 / Float(l).squareRoot()
        topicCentres = Self.normals(recipe, .topics, item: 0, count: recipe.topics * l, scale: 1)
        clsView = Self.normals(recipe, .clsView, item: 0, count: w * l, scale: scale)
        patchView = Self.normals(recipe, .patchView, item: 0, count: w * l, scale: scale)
        textView = Self.normals(recipe, .textView, item: 0, count: w * l, scale: scale)
    }

    static func stream(_ recipe: SyntheticTokenRecipe, _ stream: Stream, item: Int) -> RandomStream {
        RandomStream(seed: recipe.seed, purpose: .synthetic, step: stream.rawValue, item: UInt32(truncatingIfNeeded: item))
    }

    static func normals(_ recipe: SyntheticTokenRecipe, _ kind: Stream, item: Int, count: Int, start: Int = 0, scale: Float) -> [Float] {
        let s = stream(recipe, kind, item: item)
        return (0..<count).map { scale * s.normal(at: start + $0) }
    }

    /// The plan of video `global` (train, then val, then test).
    public func plan(video global: Int) -> VideoPlan {
        let r = recipe
        let (split, local) = r.splits.lazy.compactMap { s in s.videos.contains(global) ? (s.name, global - s.videos.lowerBound) : nil }.first ?? ("test", global)
        let id = "\(split)_\(SyntheticGenerator.padded(local, 6))"
        let s = Self.stream(r, .structure, item: global)
        let frames = r.frames.lowerBound + s.integer(below: r.frames.count, at: 0)
        return VideoPlan(globalIndex: global, videoID: id, split: split, frameCount: frames, topic: s.integer(below: r.topics, at: 1),
                         captionIDs: (0..<r.captionsPerVideo(global)).map { "\(id)#\($0)" })
    }

    /// z_v (L).
    func videoLatent(_ plan: VideoPlan) -> [Float] {
        let l = recipe.effectiveLatentDimension
        var z = Self.normals(recipe, .videoLatent, item: plan.globalIndex, count: l, scale: recipe.videoSpecificity)
        for j in 0..<l { z[j] += topicCentres[plan.topic * l + j] }
        return z
    }

    /// out += weight · view·latent, view stored as L columns of W.
    private func project(_ view: [Float], _ latent: [Float], weight: Float, into out: UnsafeMutablePointer<Float>) {
        let w = recipe.width
        for (l, value) in latent.enumerated() {
            let factor = weight * value
            for i in 0..<w { out[i] += factor * view[l * w + i] }
        }
    }

    /// σ_e·(uniform noise of unit variance) at elements start ..< start + count of `stream`.
    private func noise(_ s: RandomStream, start: Int, count: Int, into out: UnsafeMutablePointer<Float>) {
        SyntheticGenerator.addNoise(s, sigma: recipe.elementNoise, start: start, count: count, into: out)
    }

    /// The tokens of `plan`'s real frames, T_v × N × W, into `output`.
    public func tokens(_ plan: VideoPlan, into output: UnsafeMutablePointer<Float>) {
        let l = recipe.effectiveLatentDimension, w = recipe.width, n = CLIPTokenFormat.tokensPerFrame(grid: recipe.grid)
        let rowStride = (w + 3) / 4 * 4
        let z = videoLatent(plan)
        let variation = Self.stream(recipe, .frameLatent, item: plan.globalIndex)
        let noiseStream = Self.stream(recipe, .tokenNoise, item: plan.globalIndex)
        let weights = Self.stream(recipe, .patchWeights, item: plan.globalIndex)
        output.update(repeating: 0, count: plan.frameCount * n * w)
        for f in 0..<plan.frameCount {
            let frameLatent = (0..<l).map { z[$0] + recipe.frameVariation * variation.normal(at: f * l + $0) }
            let frame = output + f * n * w
            project(clsView, frameLatent, weight: 1, into: frame)
            for p in 1..<n { project(patchView, frameLatent, weight: 1.5 * weights.uniform(at: f * n + p), into: frame + p * w) }
            for t in 0..<n { noise(noiseStream, start: (f * n + t) * rowStride, count: w, into: frame + t * w) }
        }
    }

    /// The padding frame's tokens (N × W): noise only.
    public func paddingFrame() -> [Float] {
        let w = recipe.width, n = CLIPTokenFormat.tokensPerFrame(grid: recipe.grid)
        var out = [Float](repeating: 0, count: n * w)
        let s = Self.stream(recipe, .padding, item: 0)
        out.withUnsafeMutableBufferPointer { b in
            for t in 0..<n { noise(s, start: t * ((w + 3) / 4 * 4), count: w, into: b.baseAddress! + t * w) }
        }
        return out
    }

    /// The end-of-text embedding of caption `k` of `plan` (W).
    public func embedding(_ plan: VideoPlan, caption k: Int) -> [Float] {
        let l = recipe.effectiveLatentDimension, w = recipe.width
        let z = videoLatent(plan)
        let paraphrase = Self.stream(recipe, .captionLatent, item: plan.globalIndex)
        let latent = (0..<l).map { z[$0] + recipe.captionNoise * paraphrase.normal(at: k * l + $0) }
        var out = [Float](repeating: 0, count: w)
        out.withUnsafeMutableBufferPointer { b in
            project(textView, latent, weight: 1, into: b.baseAddress!)
            noise(Self.stream(recipe, .captionNoise, item: plan.globalIndex), start: k * ((w + 3) / 4 * 4), count: w, into: b.baseAddress!)
        }
        return out
    }

    // MARK: - Writing

    /// Writes the collection to `path` atomically (the file appears complete or not at all).
    /// Splits: train (every caption of every train video), val and test (every caption of their videos).
    public func write(path: String, progress: SyntheticGenerator.Progress? = nil) throws {
        let r = recipe
        let plans = (0..<r.totalVideos).map { plan(video: $0) }
        let n = CLIPTokenFormat.tokensPerFrame(grid: r.grid)
        let header = CLIPTokenHeader(collection: r.collection, source: "synthetic: \(describe())", width: r.width, grid: r.grid,
                                     maxFrames: r.maxFrames, totalFrames: plans.reduce(0) { $0 + $1.frameCount },
                                     captionCount: plans.reduce(0) { $0 + $1.captionIDs.count })
        let total = header.totalFrames * n * r.width * 2
        try withFileContext(path) {
            try HDF5File.writeAtomically(to: path) { file in
                let writer = try CLIPTokenWriter(file: file, header: header)
                try paddingFrame().withUnsafeBufferPointer { try writer.setPaddingFrame($0) }
                var buffer = [Float](repeating: 0, count: r.maxFrames * n * r.width)
                var splitCaptions: [String: [Int]] = [:]
                var done = 0
                for plan in plans {
                    let count = plan.frameCount * n * r.width
                    let video = try buffer.withUnsafeMutableBufferPointer { b in
                        tokens(plan, into: b.baseAddress!)
                        return try writer.appendVideo(id: plan.videoID, tokens: UnsafeBufferPointer(rebasing: b[0..<count]))
                    }
                    for (k, id) in plan.captionIDs.enumerated() {
                        let caption = try embedding(plan, caption: k).withUnsafeBufferPointer {
                            try writer.appendCaption(id: id, video: video, text: "caption \(k + 1) of \(plan.videoID) (topic \(plan.topic))", embedding: $0)
                        }
                        splitCaptions[plan.split, default: []].append(caption)
                    }
                    done += count * 2
                    progress?(done, total)
                }
                try writer.finish(splits: r.splits.map { ($0.name, splitCaptions[$0.name] ?? []) })
            }
        }
    }

    func describe() -> String {
        let r = recipe
        return "videos \(r.trainVideos)+\(r.evaluationVideos)+\(r.evaluationVideos), captions/video \(r.trainCaptionsPerVideo)/\(r.evaluationCaptionsPerVideo), "
            + "frames \(r.frames.lowerBound)..\(r.frames.upperBound) of \(r.maxFrames), width \(r.width), grid \(r.grid), seed \(r.seed), "
            + "L \(r.effectiveLatentDimension), K \(r.topics)"
    }
}
