import MamFusion
import TensorKit

/// **Test oracle** for `TiledSimilarity`: the four score matrices of the training loss (MODEL.md §3), with their backward:
/// - S_clip'[q,v] = max_c q·C[v,c], S_clip[q,v] = max_c q̂·ĉ[v,c] (ĉ per clip row);
/// - S_frame'[q,v] = q·F[v], S_frame[q,v] = q̂·f̂[v];
/// x̂ = x / max(‖x‖, 1e-12) (`F.normalize`).
/// Shapes: q (Q×d), C (V·Mc×d, video-major), F (V×d); each S is Q×V. The clip maxima keep their
/// argmax, so the backward sends each score's gradient to the one clip that produced it. This is
/// the whole-matrix computation (normalise, then multiply; all Q×V·Mc products at once) that
/// training used before the scores were tiled.
public final class SimilarityScores {
    public let features: Int
    public let clips: Int
    public let clip = ActivationBuffer(), clipUnnormalized = ActivationBuffer()
    public let frame = ActivationBuffer(), frameUnnormalized = ActivationBuffer()
    let qHat = ActivationBuffer(), cHat = ActivationBuffer(), fHat = ActivationBuffer()
    let qNorm = ActivationBuffer(), cNorm = ActivationBuffer(), fNorm = ActivationBuffer()
    let allClipScores = ActivationBuffer()
    var argmaxClip: [Int32] = [], argmaxClipUnnormalized: [Int32] = []
    let dqHat = ActivationBuffer(), dcHat = ActivationBuffer(), dfHat = ActivationBuffer()
    private var queries = 0, videos = 0

    public init(features: Int, clips: Int) {
        self.features = features
        self.clips = clips
    }

    public func forward(q: UnsafePointer<Float>, queries Q: Int, clipEmbeddings C: UnsafePointer<Float>,
                        frameEmbeddings F: UnsafePointer<Float>, videos V: Int) {
        queries = Q; videos = V
        let d = features, mc = clips
        let qh = qHat.reserve(Q * d), ch = cHat.reserve(V * mc * d), fh = fHat.reserve(V * d)
        L2Normalize.forward(x: q, y: qh, norms: qNorm.reserve(Q), rows: Q, cols: d)
        L2Normalize.forward(x: C, y: ch, norms: cNorm.reserve(V * mc), rows: V * mc, cols: d)
        L2Normalize.forward(x: F, y: fh, norms: fNorm.reserve(V), rows: V, cols: d)
        if argmaxClip.count < Q * V {
            argmaxClip = [Int32](repeating: 0, count: Q * V)
            argmaxClipUnnormalized = [Int32](repeating: 0, count: Q * V)
        }
        let all = allClipScores.reserve(Q * V * mc)
        MatrixEngine.gemm(transB: true, m: Q, n: V * mc, k: d, a: q, lda: d, b: C, ldb: d, c: all, ldc: V * mc)
        argmaxClipUnnormalized.withUnsafeMutableBufferPointer {
            ReduceMax.forward(x: all, y: clipUnnormalized.reserve(Q * V), argmax: $0.baseAddress!, outer: Q * V, axis: mc, inner: 1)
        }
        MatrixEngine.gemm(transB: true, m: Q, n: V * mc, k: d, a: qh, lda: d, b: ch, ldb: d, c: all, ldc: V * mc)
        argmaxClip.withUnsafeMutableBufferPointer {
            ReduceMax.forward(x: all, y: clip.reserve(Q * V), argmax: $0.baseAddress!, outer: Q * V, axis: mc, inner: 1)
        }
        MatrixEngine.gemm(transB: true, m: Q, n: V, k: d, a: q, lda: d, b: F, ldb: d, c: frameUnnormalized.reserve(Q * V), ldc: V)
        MatrixEngine.gemm(transB: true, m: Q, n: V, k: d, a: qh, lda: d, b: fh, ldb: d, c: frame.reserve(Q * V), ldc: V)
    }

    /// Accumulates dq, dC, dF from the gradients of the four score matrices (each Q×V).
    public func backward(q: UnsafePointer<Float>, clipEmbeddings C: UnsafePointer<Float>, frameEmbeddings F: UnsafePointer<Float>,
                         dClip: UnsafePointer<Float>, dClipUnnormalized: UnsafePointer<Float>,
                         dFrame: UnsafePointer<Float>, dFrameUnnormalized: UnsafePointer<Float>,
                         dq: UnsafeMutablePointer<Float>, dC: UnsafeMutablePointer<Float>, dF: UnsafeMutablePointer<Float>) {
        let Q = queries, V = videos, d = features, mc = clips
        let qh = qHat.pointer, ch = cHat.pointer, fh = fHat.pointer
        let dqh = dqHat.zeroed(Q * d), dch = dcHat.zeroed(V * mc * d), dfh = dfHat.zeroed(V * d)
        // Frame scores: plain products.
        MatrixEngine.gemm(m: Q, n: d, k: V, a: dFrameUnnormalized, lda: V, b: F, ldb: d, beta: 1, c: dq, ldc: d)
        MatrixEngine.gemm(transA: true, m: V, n: d, k: Q, a: dFrameUnnormalized, lda: V, b: q, ldb: d, beta: 1, c: dF, ldc: d)
        MatrixEngine.gemm(m: Q, n: d, k: V, a: dFrame, lda: V, b: fh, ldb: d, beta: 1, c: dqh, ldc: d)
        MatrixEngine.gemm(transA: true, m: V, n: d, k: Q, a: dFrame, lda: V, b: qh, ldb: d, beta: 1, c: dfh, ldc: d)
        // Clip scores: only the arg-max clip of each (q, v) receives gradient.
        for i in 0..<Q {
            for v in 0..<V {
                let g = dClipUnnormalized[i * V + v]
                if g != 0 {
                    let row = v * mc + Int(argmaxClipUnnormalized[i * V + v])
                    Vector.axpy(alpha: g, x: C + row * d, y: dq + i * d, count: d)
                    Vector.axpy(alpha: g, x: q + i * d, y: dC + row * d, count: d)
                }
                let h = dClip[i * V + v]
                if h != 0 {
                    let row = v * mc + Int(argmaxClip[i * V + v])
                    Vector.axpy(alpha: h, x: ch + row * d, y: dqh + i * d, count: d)
                    Vector.axpy(alpha: h, x: qh + i * d, y: dch + row * d, count: d)
                }
            }
        }
        L2Normalize.backward(x: q, norms: qNorm.pointer, dy: dqh, dx: dq, rows: Q, cols: d)
        L2Normalize.backward(x: C, norms: cNorm.pointer, dy: dch, dx: dC, rows: V * mc, cols: d)
        L2Normalize.backward(x: F, norms: fNorm.pointer, dy: dfh, dx: dF, rows: V, cols: d)
    }
}
