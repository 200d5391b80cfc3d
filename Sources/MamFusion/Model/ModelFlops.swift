/// Useful floating-point operations of one training step (forward + backward) — or of the
/// evaluation's encoding (forward only, one query pass, no loss head) — on the valid, unpadded
/// positions of a batch: the numerator of the benchmarks' GFLOP/s. Matrix products count
/// 2·m·n·k; a backward of a product costs twice its forward (∂input and ∂weight); the selective
/// scan counts ~9 operations per (row, channel, state) forward and ~2× that backward.
/// Element-wise work (LayerNorm, softmax, activations) is not counted: it is not "useful" in
/// the GEMM sense and would flatter the rate. Counts the configuration's model: GMMFormer has no
/// Mamba units and no fusion (MODEL.md §10).
public struct ModelFlops: Sendable {
    public var text = 0.0
    public var clip = 0.0
    public var frame = 0.0
    public var mambaScan = 0.0
    public var head = 0.0
    public var total: Double { text + clip + frame + head }

    /// What is counted: a training step, or the evaluation's encoding of videos and queries.
    public enum Pass: Sendable { case trainingStep, encoding }

    public init(configuration c: RunConfiguration, frames: [Int], tokens: [Int], pass: Pass = .trainingStep) {
        let d = Double(c.hiddenSize), e = Double(c.dimensions.mambaInner), n = Double(c.dimensions.mambaState)
        let r = Double(c.dimensions.mambaDtRank)
        // A training step is forward + backward (3 products per product); encoding forward only.
        let passes = pass == .trainingStep ? 3.0 : 1.0
        func matmul(_ m: Double, _ k: Double, _ nn: Double) -> Double { passes * 2 * m * k * nn }
        func attention(_ lengths: [Int]) -> Double {
            let rows = Double(lengths.reduce(0, +)), squares = Double(lengths.reduce(0) { $0 + $1 * $1 })
            return 4 * matmul(rows, d, d) + 2 * passes * 2 * squares * d
        }
        func mamba(_ rows: Double) -> (gemm: Double, scan: Double) {
            (matmul(rows, d, 2 * e) + matmul(rows, e, r + 2 * n) + matmul(rows, r, e) + matmul(rows, e, d), passes * 9 * rows * e * n)
        }
        let model = c.model
        func branch(_ lengths: [Int], input: Double) -> (Double, Double) {
            let rows = Double(lengths.reduce(0, +))
            let m = model.hasMambaUnits ? mamba(rows) : (gemm: 0, scan: 0)
            return (matmul(rows, input, d) + 8 * attention(lengths) + 2 * (m.gemm + m.scan) + matmul(rows, d, 1), 2 * m.scan)
        }
        let dv = Double(c.visualFeatureSize), dq = Double(c.queryFeatureSize)
        let tokenRows = Double(tokens.reduce(0, +))
        let queryPasses = pass == .trainingStep ? 2.0 : 1.0
        text = queryPasses * (matmul(tokenRows, dq, d) + attention(tokens) + matmul(tokenRows, d, 1))
        let clipBranch = branch(Array(repeating: c.mapSize, count: frames.count), input: dv)
        let frameBranch = branch(frames, input: dv)
        clip = clipBranch.0
        frame = frameBranch.0
        mambaScan = clipBranch.1 + frameBranch.1
        let Q = Double(tokens.count), V = Double(frames.count), mc = Double(c.mapSize)
        // Similarity: two Q×(V·Mc)×d and two Q×V×d products; fusion: two small attentions.
        let fusion = model.hasFusion ? 2 * (matmul(V + Q, d, 3 * d) + matmul(V + Q, d, d) + 2 * 3 * 2 * Q * V * d) : 0
        head = pass == .trainingStep ? 3 * 2 * Q * V * d * (2 * mc + 2) + fusion : 0
    }
}
