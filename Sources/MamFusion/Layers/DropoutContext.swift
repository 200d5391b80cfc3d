import CounterRandom
import TensorKit

/// Where the model's dropout draws come from (DISTRIBUTED.md §2): the stream of item i at site k
/// is `RandomStream(seed, .dropout, step, item: globalIndex(i))` and the element index starts at
/// `k · siteStride`. So the mask of a video's (or query's) tensor depends only on
/// (seed, step, its position in the global batch, the site) — never on the rank or world size.
public struct DropoutContext: Sendable {
    public let seed: UInt64
    public let step: UInt32
    /// False turns every dropout into the identity (evaluation, or `dropout: false`).
    public let enabled: Bool

    /// Elements reserved per (item, site): 2^24, enough for 8 heads × 1024² attention entries or
    /// 1024 frames × 16384 features; 1024 sites fit the Philox element counter.
    public static let siteStride = 1 << 24

    public init(seed: UInt64, step: UInt32, enabled: Bool) {
        self.seed = seed
        self.step = step
        self.enabled = enabled
    }

    /// No dropout anywhere.
    public static let disabled = DropoutContext(seed: 0, step: 0, enabled: false)

    public func stream(item: Int) -> RandomStream {
        RandomStream(seed: seed, purpose: .dropout, step: step, item: UInt32(truncatingIfNeeded: item))
    }

    /// The effective rate: 0 when disabled.
    public func rate(_ p: Double) -> Float { enabled ? Float(p) : 0 }

    /// y = dropout(x) over a packed batch: sequence s's rows use its own stream at `site`.
    /// `cols` features per row; y may alias x. A no-op copy when the rate is 0.
    public func forward(site: DropoutSite, rate p: Float, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                        batch: SequenceBatch, cols: Int) {
        if p == 0 {
            if UnsafePointer(y) != x { y.update(from: x, count: batch.rows * cols) }
            return
        }
        for s in 0..<batch.count {
            let o = batch.offsets[s] * cols
            Dropout.forward(x: x + o, y: y + o, mask: nil, count: batch.lengths[s] * cols, p: p,
                            stream: stream(item: batch.globalIndices[s]), start: site.start)
        }
    }

    /// dx += dropout'(dy) with the masks recomputed from the streams (accumulates).
    public func backward(site: DropoutSite, rate p: Float, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
                         batch: SequenceBatch, cols: Int) {
        if p == 0 {
            Vector.axpy(alpha: 1, x: dy, y: dx, count: batch.rows * cols)
            return
        }
        for s in 0..<batch.count {
            let o = batch.offsets[s] * cols
            Dropout.backward(dy: dy + o, dx: dx + o, count: batch.lengths[s] * cols, p: p,
                             stream: stream(item: batch.globalIndices[s]), start: site.start)
        }
    }
}

/// A dropout site of the model: a distinct region of each item's random stream.
public struct DropoutSite: Sendable, Equatable {
    public let index: Int
    public init(_ index: Int) {
        precondition(index >= 0 && index < 1024, "dropout site \(index) outside 0..<1024")
        self.index = index
    }
    public var start: Int { index * DropoutContext.siteStride }
    /// The k-th site after this one (layers with several sites number them from their base).
    public func offset(_ k: Int) -> DropoutSite { DropoutSite(index + k) }
}
