import TensorKit
import TestSupport
import Testing
@testable import MamFusion

/// The tiled scores of the sharded loss head: the values of the whole-matrix computation, and
/// the same bits for a video whatever other videos share its block (what makes the scores
/// independent of the world size, SHARDED-HEAD.md B.5).
struct TiledSimilarityTests {
    static let Q = TiledSimilarity.queryTile + 45, V = 37, mc = 4, d = 16

    static func indices<S: Sequence<Int>>(_ videos: S) -> [Int32] { videos.map { Int32($0) } }

    /// E (V × (Mc+1) × d) from separate C and F.
    static func blocks(C: Tensor, F: Tensor, videos: [Int]) -> Tensor {
        let n = mc + 1
        let E = Tensor(shape: [videos.count * n * d])
        for (j, v) in videos.enumerated() {
            (E.pointer + j * n * d).update(from: C.pointer + v * mc * d, count: mc * d)
            (E.pointer + (j * n + mc) * d).update(from: F.pointer + v * d, count: d)
        }
        return E
    }

    @Test("the four score matrices equal the whole-matrix normalise-then-multiply computation")
    func matchesWholeMatrix() {
        let q = randomBuffer(Self.Q * Self.d, seed: 21), C = randomBuffer(Self.V * Self.mc * Self.d, seed: 22)
        let F = randomBuffer(Self.V * Self.d, seed: 23)
        let tiled = TiledSimilarity(features: Self.d, clips: Self.mc)
        let E = Self.blocks(C: C, F: F, videos: Array(0..<Self.V))
        tiled.forward(q: q.pointer, queries: Self.Q, embeddings: E.pointer, videos: Self.V, globalVideos: Self.indices(0..<Self.V))
        let whole = SimilarityScores(features: Self.d, clips: Self.mc)
        whole.forward(q: q.pointer, queries: Self.Q, clipEmbeddings: C.pointer, frameEmbeddings: F.pointer, videos: Self.V)
        for (a, b, name) in [(tiled.clip, whole.clip, "S_clip"), (tiled.clipUnnormalized, whole.clipUnnormalized, "S_clip'"),
                             (tiled.frame, whole.frame, "S_frame"), (tiled.frameUnnormalized, whole.frameUnnormalized, "S_frame'")] {
            var worst: Float = 0, scale: Float = 0
            for i in 0..<(Self.Q * Self.V) {
                worst = max(worst, abs(a.pointer[i] - b.pointer[i]))
                scale = max(scale, abs(b.pointer[i]))
            }
            #expect(worst <= 2e-6 * scale, "\(name): largest difference \(worst) of \(scale)")
        }
    }

    /// (clips, features): small products (OpenBLAS under every engine) and products large enough
    /// for oneDNN's pieces (256 × 8·33 × 128).
    static let blockSizes: [(mc: Int, d: Int)] = [(4, 16), (32, 128)]

    @Test("a video's scores are the same bits whatever other videos of the rank share its group", arguments: engineSelections)
    func blockInvariance(selection: MatrixEngineSelection) {
        for (mc, d) in Self.blockSizes { withEngine(selection) { checkBlockInvariance(mc: mc, d: d) } }
    }

    func checkBlockInvariance(mc: Int, d: Int) {
        let Q = Self.Q, V = Self.V
        let q = randomBuffer(Q * d, seed: 31), C = randomBuffer(V * mc * d, seed: 32), F = randomBuffer(V * d, seed: 33)
        let all = Array(0..<V)
        func blocks(_ videos: [Int]) -> Tensor {
            let n = mc + 1, E = Tensor(shape: [max(videos.count * n * d, 1)])
            for (j, v) in videos.enumerated() {
                (E.pointer + j * n * d).update(from: C.pointer + v * mc * d, count: mc * d)
                (E.pointer + (j * n + mc) * d).update(from: F.pointer + v * d, count: d)
            }
            return E
        }
        let reference = TiledSimilarity(features: d, clips: mc)
        let E = blocks(all)
        reference.forward(q: q.pointer, queries: Q, embeddings: E.pointer, videos: V, globalVideos: Self.indices(all))
        for subset in [[3], [0, 2, 4, 6], [1, 5], [6, 5, 4, 3, 2, 1, 0], Array(13..<V), Array((0..<V).reversed())] {
            let s = TiledSimilarity(features: d, clips: mc)
            let Es = blocks(subset)
            s.forward(q: q.pointer, queries: Q, embeddings: Es.pointer, videos: subset.count, globalVideos: Self.indices(subset))
            var differing = 0
            for (j, v) in subset.enumerated() {
                for i in 0..<Q {
                    for (a, b) in [(s.clip, reference.clip), (s.clipUnnormalized, reference.clipUnnormalized),
                                   (s.frame, reference.frame), (s.frameUnnormalized, reference.frameUnnormalized)]
                    where a.pointer[i * subset.count + j].bitPattern != b.pointer[i * V + v].bitPattern {
                        differing += 1
                    }
                }
            }
            #expect(differing == 0, "mc \(mc) d \(d): \(differing) scores differ in block \(subset)")
        }
    }

    @Test("the backward equals the whole-matrix backward, across several query tiles")
    func backwardMatchesWholeMatrix() {
        let Q = Self.Q, V = Self.V, mc = Self.mc, d = Self.d, n = mc + 1
        let q = randomBuffer(Q * d, seed: 41), C = randomBuffer(V * mc * d, seed: 42), F = randomBuffer(V * d, seed: 43)
        let upstream = randomBuffer(4 * Q * V, seed: 44)
        let w = upstream.pointer
        let tiled = TiledSimilarity(features: d, clips: mc)
        let E = Self.blocks(C: C, F: F, videos: Array(0..<V))
        tiled.forward(q: q.pointer, queries: Q, embeddings: E.pointer, videos: V, globalVideos: Self.indices(0..<V))
        let dq = Tensor(shape: [Q * d]), dE = Tensor(shape: [V * n * d])
        tiled.backward(q: q.pointer, embeddings: E.pointer, dClip: w, dClipUnnormalized: w + Q * V, dFrame: w + 2 * Q * V,
                       dFrameUnnormalized: w + 3 * Q * V, dq: dq.pointer, dE: dE.pointer)
        let whole = SimilarityScores(features: d, clips: mc)
        whole.forward(q: q.pointer, queries: Q, clipEmbeddings: C.pointer, frameEmbeddings: F.pointer, videos: V)
        let wq = Tensor(shape: [Q * d]), wC = Tensor(shape: [V * mc * d]), wF = Tensor(shape: [V * d])
        whole.backward(q: q.pointer, clipEmbeddings: C.pointer, frameEmbeddings: F.pointer, dClip: w, dClipUnnormalized: w + Q * V,
                       dFrame: w + 2 * Q * V, dFrameUnnormalized: w + 3 * Q * V, dq: wq.pointer, dC: wC.pointer, dF: wF.pointer)
        let expectedE = Self.blocks(C: wC, F: wF, videos: Array(0..<V))
        for (a, b, name) in [(dq, wq, "dq"), (dE, expectedE, "dE")] {
            let x = a.toArray(), y = b.toArray()
            let scale = y.reduce(0) { max($0, abs($1)) }
            let worst = zip(x, y).reduce(0) { max($0, abs($1.0 - $1.1)) }
            #expect(worst <= 1e-5 * scale, "\(name): largest difference \(worst) of \(scale)")
        }
    }
}
