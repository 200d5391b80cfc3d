import CKernels

/// Small element-wise operations on flat buffers (residual adds, scalings, gradient sums).
/// Each is one vectorised pointer loop; inputs and outputs may alias unless stated otherwise.
public enum Vector {
    /// y = a + b.
    public static func add(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        if UnsafePointer(y) == b {
            mapElements(b, y, count: count) { v, i in a[i] + v }
        } else {
            mapElements(a, y, count: count) { v, i in v + b[i] }
        }
    }

    /// y += α·x (also the backward of y = α·x and of a residual add: it accumulates).
    public static func axpy(alpha: Float, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, count: Int) {
        if alpha == 1 {
            for i in 0..<count { y[i] += x[i] }
        } else {
            for i in 0..<count { y[i] += alpha * x[i] }
        }
    }

    /// y = α·x.
    public static func scale(_ x: UnsafePointer<Float>, by alpha: Float, into y: UnsafeMutablePointer<Float>, count: Int) {
        mapElements(x, y, count: count) { v, _ in alpha * v }
    }

    /// Σ x[i]² in Double: float partial sums over blocks of 4096 (16-way blocked inside a block),
    /// block totals added in Double — accurate for gradient norms over millions of elements.
    public static func sumOfSquares(_ x: UnsafePointer<Float>, count: Int) -> Double {
        var total = 0.0
        var i = 0
        while i < count {
            let n = min(4096, count - i)
            total += Double(mf_dot(x + i, x + i, n))
            i += n
        }
        return total
    }
}

/// y = a ⊙ b, where b may be shorter than a and is then repeated: y[i] = a[i]·b[i mod bCount].
/// (Gating y ⊙ SiLU(z), tgt ⊙ attn(...), the Gaussian prior S ⊙ G shared by every head and item.)
public enum ElementwiseProduct {
    /// y = a ⊙ b (b cycled with period `bCount`, default `count`; `count` must be a multiple of
    /// it). y may alias a or b.
    public static func forward(a: UnsafePointer<Float>, b: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                               count: Int, bCount: Int? = nil) {
        let period = bCount ?? count
        precondition(period > 0 ? count % period == 0 : count == 0, "ElementwiseProduct: count \(count) is not a multiple of bCount \(period)")
        var start = 0
        while start < count {
            let ap = a + start, yp = y + start
            mapElements(ap, yp, count: period) { v, j in v * b[j] }
            start += period
        }
    }

    /// **Accumulates**: da += dy ⊙ b, db[j] += Σ_{i ≡ j} dy[i]·a[i] (nil skips either).
    /// da and db must not alias dy.
    public static func backward(a: UnsafePointer<Float>, b: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                                da: UnsafeMutablePointer<Float>?, db: UnsafeMutablePointer<Float>?,
                                count: Int, bCount: Int? = nil) {
        let period = bCount ?? count
        precondition(period > 0 ? count % period == 0 : count == 0, "ElementwiseProduct: count \(count) is not a multiple of bCount \(period)")
        var start = 0
        while start < count {
            let ap = a + start, gp = dy + start
            if let da {
                let dap = da + start
                for j in 0..<period { dap[j] += gp[j] * b[j] }
            }
            if let db {
                for j in 0..<period { db[j] += gp[j] * ap[j] }
            }
            start += period
        }
    }
}
