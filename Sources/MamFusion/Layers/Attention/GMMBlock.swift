import TensorKit

/// The GMMFormer block (MODEL.md §1): four independent `SelfAttention` branches on the same
/// input — `attn0` global, `attn1` w = 0.5, `attn2` w = 1.0, `attn3` w = 5.0 — each with its own
/// weights, residual and LayerNorm; the output is the plain mean of the four branch outputs.
public final class GMMBlock {
    public let branches: [SelfAttention]
    public let features: Int
    public let output = ActivationBuffer()
    let dBranch = ActivationBuffer()

    /// Uses dropout sites `site ..< site + 2·4`.
    public init(_ name: String, features: Int, heads: Int, rate: Double, site: DropoutSite,
                parameters: ParameterSet, gradients: ParameterSet, scratch: ScratchArena) {
        branches = GMMBlockWidths.all.enumerated().map { i, width in
            SelfAttention("\(name).attn\(i)", features: features, heads: heads, width: width, rate: rate,
                          site: site.offset(2 * i), parameters: parameters, gradients: gradients, scratch: scratch,
                          keepsOutput: false)
        }
        self.features = features
    }

    public static let sitesUsed = 2 * GMMBlockWidths.all.count

    public func forward(_ x: UnsafePointer<Float>, batch: SequenceBatch, dropout: DropoutContext) {
        let n = batch.rows * features
        let y = output.zeroed(n)
        let w = 1 / Float(branches.count)
        for branch in branches {
            branch.forward(x, batch: batch, dropout: dropout)
            Vector.axpy(alpha: w, x: branch.output, y: y, count: n)
        }
    }

    /// Accumulates dx and every branch's parameter gradients from dy = ∂L/∂output.
    public func backward(_ x: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
                         batch: SequenceBatch, dropout: DropoutContext) {
        let n = batch.rows * features
        let share = dBranch.reserve(n)
        Vector.scale(dy, by: 1 / Float(branches.count), into: share, count: n)
        for branch in branches {
            branch.backward(x, dy: share, dx: dx, batch: batch, dropout: dropout)
        }
    }
}

/// Gaussian widths of a GMMBlock's four branches (MODEL.md §1): `attn0` is global (no G).
public enum GMMBlockWidths {
    public static let all: [Float?] = [nil, 0.5, 1.0, 5.0]
}
