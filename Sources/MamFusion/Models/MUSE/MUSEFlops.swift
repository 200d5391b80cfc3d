/// Useful FLOPs of MUSE (`ModelFlops`): matrix products only, 2 per multiply-add; a product's
/// backward costs twice its forward. At the reference sizes a video costs ≈ 14.7 GMAC in the
/// blocks and 8.0 in the pyramid (MUSE.md §4), so a training pair ≈ 104 GFLOP with the frozen
/// pyramid (blocks forward + backward, pyramid forward).
public enum MUSEFlops {
    /// Multiply-adds of the pyramid's forward, per frame.
    static func pyramidMACs(_ d: MUSEDimensions) -> Double {
        let w = Double(d.width), half = Double(d.halfGrid * d.halfGrid), one = Double(d.grid * d.grid)
        let double = Double(d.doubleGrid * d.doubleGrid)
        let tail = { (positions: Double, inChannels: Double) in positions * inChannels * w + positions * 9 * w * w }
        return tail(half, w) + tail(one, w) + one * w * 2 * w + tail(double, w / 2)
    }

    /// Multiply-adds of one block's forward, per sequence row (in/out projections, temporal_fc,
    /// and each direction's x_proj and dt_proj).
    static func blockMACs(_ d: MUSEDimensions) -> Double {
        let m = d.mamba, w = Double(d.width), e = Double(m.mambaInner), r = Double(m.mambaDtRank), n = Double(m.mambaState)
        return 2 * e * w + w * e + w * w + 2 * ((r + 2 * n) * e + e * r)
    }

    /// The selective scan's operations, per row per direction forward (≈ 9 per channel and state).
    static func scanFlops(_ d: MUSEDimensions) -> Double { 9 * Double(d.mamba.mambaInner * d.state) }

    public static func count(_ d: MUSEDimensions, videos: Int, trainPyramid: Bool, pass: ModelFlops.Pass) -> ModelFlops {
        let v = Double(videos), l = Double(d.sequenceLength), frames = Double(d.frames)
        let blocks = 2 * v * l * Double(d.blocks) * blockMACs(d)
        let pyramid = 2 * v * frames * pyramidMACs(d)
        let scan = v * l * Double(d.blocks) * 2 * scanFlops(d)
        switch pass {
        case .encoding:
            return ModelFlops(videos: blocks + pyramid, scan: scan)
        case .trainingStep:
            // Scores of these videos against as many captions, and ∂v: 2 products of 2·B²·W
            // (captions need no gradient).
            let head = 2 * 2 * v * v * Double(d.width)
            return ModelFlops(videos: 3 * blocks + (trainPyramid ? 3 : 1) * pyramid, head: head, scan: 3 * scan)
        }
    }
}
