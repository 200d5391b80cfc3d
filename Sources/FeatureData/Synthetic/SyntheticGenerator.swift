import CounterRandom
import HDF5Kit
import TensorKit

/// Generates a synthetic PRVR dataset with planted partial relevance, in either layout,
/// streaming video by video (a TVR-sized dataset is tens of GB; only one video is in memory).
///
/// ## The generative model
/// - K topic centres c_k ∈ R^L ~ N(0, I); two different linear views of the latent space,
///   A ∈ R^{Dv×L} for frames and B ∈ R^{Dq×L} for query tokens, entries ~ N(0, 1/L).
/// - Video v: T_v ~ U{frames}; it is a sequence of n_v ~ U{moments} (≤ T_v) contiguous moments
///   with random boundaries. Moment m has a topic t ~ U{0..K−1} and a latent
///   u_{v,m} = c_t + s·e_{v,m}, e ~ N(0, I) (s = momentSpecificity): moments share topics
///   across videos (hard negatives) but each is distinct.
/// - Frame f in moment m: x_f = A·u_{v,m} + σ_v·ε_f, ε uniform with unit variance.
/// - Caption k of v describes one moment m_k ~ U{0..n_v−1}: a paraphrase latent
///   z = u_{v,m_k} + σ_c·η, η ~ N(0, I); n_k ~ U{tokens} tokens, token j =
///   w_j·B·z + σ_q·ε_j with w_j ~ U[0, 1.5) (some tokens carry little signal).
///
/// A caption is thus a noisy, different linear view of one moment of its video — a part of
/// the video, not all of it. A model that learns maps inverting A and B onto a shared space
/// finds the video from the caption; an untrained model's random maps see no relation, so it
/// ranks at chance (R@1 ≈ 1/V).
///
/// ## Determinism
/// Every draw comes from the counter-based generator keyed by (seed, purpose .synthetic,
/// stream, global video index, element): a video's data depends only on the seed, its global
/// index (train, then val, then test) and the recipe, never on generation order. Same recipe
/// and seed ⇒ identical values and files.
public struct SyntheticGenerator {
    public let recipe: SyntheticRecipe
    let topicCentres: [Float]   // K × L
    let visualView: [Float]     // L columns of Dv (column l at l·Dv)
    let queryView: [Float]      // L columns of Dq

    /// What one video looks like, drawn before its features (cheap, O(moments + captions)).
    public struct VideoPlan: Sendable {
        public let globalIndex: Int
        public let videoID: String
        public let split: String
        public let frameCount: Int
        /// Moment boundaries: moment m spans frames momentStarts[m] ..< momentStarts[m+1].
        public let momentStarts: [Int]
        public let momentTopics: [Int]
        public let captions: [CaptionPlan]
    }

    public struct CaptionPlan: Sendable {
        public let capID: String
        public let moment: Int
        public let tokenCount: Int
        public let text: String
    }

    /// Counter streams (the `step` word of the generator).
    enum Stream: UInt32 {
        case topics = 0, visualView, queryView, structure, boundaries, momentLatent, frameNoise, captionStructure, captionLatent, tokenNoise, tokenWeights
    }

    public init(recipe: SyntheticRecipe) throws {
        try recipe.validate()
        self.recipe = recipe
        let l = recipe.effectiveLatentDimension
        let scale = 1 / Float(l).squareRoot()
        topicCentres = Self.normals(recipe, .topics, item: 0, count: recipe.topics * l, scale: 1)
        visualView = Self.normals(recipe, .visualView, item: 0, count: recipe.visualDimension * l, scale: scale)
        queryView = Self.normals(recipe, .queryView, item: 0, count: recipe.queryDimension * l, scale: scale)
    }

    static func stream(_ recipe: SyntheticRecipe, _ stream: Stream, item: Int) -> RandomStream {
        RandomStream(seed: recipe.seed, purpose: .synthetic, step: stream.rawValue, item: UInt32(truncatingIfNeeded: item))
    }

    static func normals(_ recipe: SyntheticRecipe, _ kind: Stream, item: Int, count: Int, start: Int = 0, scale: Float) -> [Float] {
        let s = stream(recipe, kind, item: item)
        return (0..<count).map { scale * s.normal(at: start + $0) }
    }

    static func uniformInt(_ s: RandomStream, _ range: ClosedRange<Int>, at index: Int) -> Int {
        range.lowerBound + s.integer(below: range.count, at: index)
    }

    /// Zero-padded decimal.
    static func padded(_ n: Int, _ width: Int) -> String {
        let digits = String(n)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    /// The plan of video `global` (its split, id, frames, moments and captions).
    public func plan(video global: Int) -> VideoPlan {
        let r = recipe
        let (split, local) = r.splits.lazy.compactMap { s in s.videos.contains(global) ? (s.name, global - s.videos.lowerBound) : nil }.first ?? ("test", global)
        let videoID = "\(split)_\(Self.padded(local, 6))"
        let s = Self.stream(r, .structure, item: global)
        let t = Self.uniformInt(s, r.frames, at: 0)
        let n = min(t, Self.uniformInt(s, r.moments, at: 1))
        // n − 1 distinct cut points among 1..<T, sorted.
        let cuts = t > 1 ? Self.stream(r, .boundaries, item: global).permutation(t - 1).prefix(n - 1).map { $0 + 1 }.sorted() : []
        let starts = [0] + cuts + [t]
        let topics = (0..<n).map { s.integer(below: r.topics, at: 2 + $0) }
        let cs = Self.stream(r, .captionStructure, item: global)
        let captions = (0..<r.queriesPerVideo).map { k -> CaptionPlan in
            let moment = cs.integer(below: n, at: 2 * k)
            let tokens = Self.uniformInt(cs, r.tokens, at: 2 * k + 1)
            let text = "moment \(moment + 1) of \(n) (frames \(starts[moment])-\(starts[moment + 1] - 1), topic \(topics[moment])) of \(videoID)"
            return CaptionPlan(capID: "\(videoID)#enc#\(k)", moment: moment, tokenCount: tokens, text: text)
        }
        return VideoPlan(globalIndex: global, videoID: videoID, split: split, frameCount: t, momentStarts: starts,
                         momentTopics: topics, captions: captions)
    }

    /// The latent u_{v,m} of each moment of `plan` (n × L).
    func momentLatents(_ plan: VideoPlan) -> [Float] {
        let l = recipe.effectiveLatentDimension
        let noise = Self.normals(recipe, .momentLatent, item: plan.globalIndex, count: plan.momentTopics.count * l, scale: recipe.momentSpecificity)
        var latents = noise
        for (m, topic) in plan.momentTopics.enumerated() {
            for j in 0..<l { latents[m * l + j] += topicCentres[topic * l + j] }
        }
        return latents
    }

    /// view · latent for a view stored as L columns of `rows` values.
    static func project(_ view: [Float], rows: Int, _ latent: ArraySlice<Float>, into out: UnsafeMutablePointer<Float>) {
        out.update(repeating: 0, count: rows)
        view.withUnsafeBufferPointer { v in
            for (l, weight) in latent.enumerated() {
                let column = v.baseAddress! + l * rows
                for i in 0..<rows { out[i] += weight * column[i] }
            }
        }
    }

    /// Adds σ·(uniform noise of unit variance) from `stream` at elements start ..< start + count
    /// (start a multiple of 4: one Philox block gives four values).
    static func addNoise(_ s: RandomStream, sigma: Float, start: Int, count: Int, into out: UnsafeMutablePointer<Float>) {
        let scale = sigma * 2 * Float(3).squareRoot() * 0x1p-24
        let offset = sigma * Float(3).squareRoot()
        var i = 0
        var block = UInt32(truncatingIfNeeded: start / 4)
        while i + 4 <= count {
            let w = s.words(block: block)
            out[i] += Float(w.0 >> 8) * scale - offset
            out[i + 1] += Float(w.1 >> 8) * scale - offset
            out[i + 2] += Float(w.2 >> 8) * scale - offset
            out[i + 3] += Float(w.3 >> 8) * scale - offset
            i += 4
            block &+= 1
        }
        if i < count {
            let w = s.words(block: block)
            let tail = [w.0, w.1, w.2, w.3]
            for k in 0..<(count - i) { out[i + k] += Float(tail[k] >> 8) * scale - offset }
        }
    }

    /// The frames of `plan` (T × Dv), into `output`.
    public func frames(_ plan: VideoPlan, into output: UnsafeMutablePointer<Float>) {
        let d = recipe.visualDimension, l = recipe.effectiveLatentDimension
        let latents = momentLatents(plan)
        let centre = UnsafeMutablePointer<Float>.allocate(capacity: d)
        defer { centre.deallocate() }
        let noise = Self.stream(recipe, .frameNoise, item: plan.globalIndex)
        for m in 0..<plan.momentTopics.count {
            Self.project(visualView, rows: d, latents[(m * l)..<((m + 1) * l)], into: centre)
            for f in plan.momentStarts[m]..<plan.momentStarts[m + 1] {
                let row = output + f * d
                row.update(from: centre, count: d)
                Self.addNoise(noise, sigma: recipe.frameNoise, start: f * ((d + 3) / 4) * 4, count: d, into: row)
            }
        }
    }

    /// The token features of caption `k` of `plan` (n_k × Dq).
    public func tokens(_ plan: VideoPlan, caption k: Int) -> [Float] {
        let d = recipe.queryDimension, l = recipe.effectiveLatentDimension
        let caption = plan.captions[k]
        let latents = momentLatents(plan)
        let jitter = Self.normals(recipe, .captionLatent, item: plan.globalIndex, count: l, start: k * l, scale: recipe.captionNoise)
        let z = (0..<l).map { latents[caption.moment * l + $0] + jitter[$0] }
        var out = [Float](repeating: 0, count: caption.tokenCount * d)
        let weights = Self.stream(recipe, .tokenWeights, item: plan.globalIndex)
        let noise = Self.stream(recipe, .tokenNoise, item: plan.globalIndex)
        let maxTokens = recipe.tokens.upperBound
        let rowStride = ((d + 3) / 4) * 4
        out.withUnsafeMutableBufferPointer { buffer in
            let centre = UnsafeMutablePointer<Float>.allocate(capacity: d)
            defer { centre.deallocate() }
            Self.project(queryView, rows: d, z[...], into: centre)
            for j in 0..<caption.tokenCount {
                let w = 1.5 * weights.uniform(at: k * maxTokens + j)
                let row = buffer.baseAddress! + j * d
                for i in 0..<d { row[i] = w * centre[i] }
                Self.addNoise(noise, sigma: recipe.tokenNoise, start: (k * maxTokens + j) * rowStride, count: d, into: row)
            }
        }
        return out
    }

    // MARK: - Writing

    /// Progress: bytes of features written so far and in total.
    public typealias Progress = (_ done: Int, _ total: Int) -> Void

    /// All plans, train then val then test.
    public func plans() -> [VideoPlan] { (0..<recipe.totalVideos).map { plan(video: $0) } }

    /// Total feature bytes of `plans` (frames and tokens, float32).
    func totalBytes(_ plans: [VideoPlan]) -> Int {
        plans.reduce(0) { sum, p in
            sum + 4 * (p.frameCount * recipe.visualDimension + p.captions.reduce(0) { $0 + $1.tokenCount } * recipe.queryDimension)
        }
    }

    /// Writes the release layout under `root` (`root/<collection>/…`).
    public func writeRelease(root: String, progress: Progress? = nil) throws {
        let paths = CollectionPaths(root: root, collection: recipe.collection, visualFeature: recipe.visualFeature)
        let writer = try ReleaseLayoutWriter(paths: paths, visualDimension: recipe.visualDimension, queryDimension: recipe.queryDimension)
        let plans = plans()
        let total = totalBytes(plans)
        var done = 0
        var buffer = [Float](repeating: 0, count: recipe.frames.upperBound * recipe.visualDimension)
        for plan in plans {
            let count = plan.frameCount * recipe.visualDimension
            try buffer.withUnsafeMutableBufferPointer { b in
                frames(plan, into: b.baseAddress!)
                let frameIDs = (0..<plan.frameCount).map { "\(plan.videoID)_\($0)" }
                try writer.addVideo(id: plan.videoID, frameIDs: frameIDs, features: UnsafeBufferPointer(rebasing: b[0..<count]))
            }
            done += count * 4
            for (k, caption) in plan.captions.enumerated() {
                let values = tokens(plan, caption: k)
                try writer.addCaption(split: plan.split, capID: caption.capID, text: caption.text, tokens: .float32(values))
                done += values.count * 4
            }
            progress?(done, total)
        }
        try writer.finish()
    }

    /// Writes the packed layout to `path` (atomically: the file appears complete or not at all).
    public func writePacked(path: String, progress: Progress? = nil) throws {
        let plans = plans()
        let total = totalBytes(plans)
        let header = PackedHeader(collection: recipe.collection, visualFeature: recipe.visualFeature,
                                  source: "synthetic: \(describe(recipe))", visualDimension: recipe.visualDimension,
                                  queryDimension: recipe.queryDimension, queryIsDouble: false,
                                  totalFrames: plans.reduce(0) { $0 + $1.frameCount },
                                  totalTokens: plans.reduce(0) { $0 + $1.captions.reduce(0) { $0 + $1.tokenCount } })
        try withFileContext(path) {
            try HDF5File.writeAtomically(to: path) { file in
                let writer = try PackedFeatureWriter(file: file, header: header)
                var tables = PackedTables()
                var done = 0
                var buffer = [Float](repeating: 0, count: recipe.frames.upperBound * recipe.visualDimension)
                for plan in plans {
                    let count = plan.frameCount * recipe.visualDimension
                    try buffer.withUnsafeMutableBufferPointer { b in
                        frames(plan, into: b.baseAddress!)
                        try writer.appendFrames(UnsafeBufferPointer(rebasing: b[0..<count]))
                    }
                    done += count * 4
                    tables.videoIDs.append(plan.videoID)
                    tables.videoOffsets.append(tables.videoOffsets.last! + plan.frameCount)
                    progress?(done, total)
                }
                // Queries in split order, which is video order (videos are generated split by split).
                for plan in plans {
                    for (k, caption) in plan.captions.enumerated() {
                        let values = tokens(plan, caption: k)
                        try writer.appendTokens(.float32(values))
                        done += values.count * 4
                        tables.capIDs.append(caption.capID)
                        tables.queryOffsets.append(tables.queryOffsets.last! + caption.tokenCount)
                        tables.queryVideo.append(plan.globalIndex)
                        tables.texts.append(caption.text)
                        tables.storedBits.append(32)
                    }
                    progress?(done, total)
                }
                var start = 0
                for split in recipe.splits {
                    let count = split.videos.count * recipe.queriesPerVideo
                    tables.splits.append((split.name, start..<start + count))
                    start += count
                }
                try writer.finish(tables)
            }
        }
    }

    func describe(_ r: SyntheticRecipe) -> String {
        "videos \(r.trainVideos)+\(r.evaluationVideos)+\(r.evaluationVideos), queries/video \(r.queriesPerVideo), frames \(r.frames.lowerBound)..\(r.frames.upperBound), tokens \(r.tokens.lowerBound)..\(r.tokens.upperBound), dv \(r.visualDimension), dq \(r.queryDimension), seed \(r.seed), L \(r.effectiveLatentDimension), K \(r.topics)"
    }
}
