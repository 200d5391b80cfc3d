/// The useful FLOPs of the PRVR models (`ModelFlops`): the query encoder (two passes in a training
/// step), the clip and frame branches and the loss head's similarity products, plus what the
/// model adds — `unit(rows)` for the layer after each GMMBlock (its GEMM and scan FLOPs over that
/// many rows, forward and backward for a step), `headExtra(Q, V)` for the head (MamFusion's
/// fusion attention).
enum PRVRFlops {
    static func count(_ c: RunConfiguration, frames: [Int], tokens: [Int], pass: ModelFlops.Pass,
                      unit: (_ rows: Double, _ passes: Double) -> (gemm: Double, scan: Double) = { _, _ in (0, 0) },
                      headExtra: (_ queries: Double, _ videos: Double) -> Double = { _, _ in 0 }) -> ModelFlops {
        let d = Double(c.hiddenSize)
        // A training step is forward + backward (3 products per product); encoding forward only.
        let passes = pass == .trainingStep ? 3.0 : 1.0
        func matmul(_ m: Double, _ k: Double, _ n: Double) -> Double { passes * 2 * m * k * n }
        func attention(_ lengths: [Int]) -> Double {
            let rows = Double(lengths.reduce(0, +)), squares = Double(lengths.reduce(0) { $0 + $1 * $1 })
            return 4 * matmul(rows, d, d) + 2 * passes * 2 * squares * d
        }
        func branch(_ lengths: [Int], input: Double) -> (Double, Double) {
            let rows = Double(lengths.reduce(0, +))
            let u = unit(rows, passes)
            return (matmul(rows, input, d) + 8 * attention(lengths) + 2 * (u.gemm + u.scan) + matmul(rows, d, 1), 2 * u.scan)
        }
        let dv = Double(c.visualFeatureSize), dq = Double(c.queryFeatureSize)
        let tokenRows = Double(tokens.reduce(0, +))
        let queryPasses = pass == .trainingStep ? 2.0 : 1.0
        var flops = ModelFlops()
        flops.queries = queryPasses * (matmul(tokenRows, dq, d) + attention(tokens) + matmul(tokenRows, d, 1))
        let clipBranch = branch(Array(repeating: c.mapSize, count: frames.count), input: dv)
        let frameBranch = branch(frames, input: dv)
        flops.videos = clipBranch.0 + frameBranch.0
        flops.scan = clipBranch.1 + frameBranch.1
        let Q = Double(tokens.count), V = Double(frames.count), mc = Double(c.mapSize)
        // Similarity: two Q×(V·Mc)×d and two Q×V×d products, forward and backward.
        flops.head = pass == .trainingStep ? 3 * 2 * Q * V * d * (2 * mc + 2) + headExtra(Q, V) : 0
        return flops
    }
}
