import CKernels

// Element-wise activations (MODEL.md §1: ReLU in LinearLayer; SiLU, softplus and exp in the Mamba
// unit). Each backward **accumulates** into dx; x, y, dy are [count] buffers. Transcendental
// functions go through CKernels' vectorised polynomials.

/// y = max(x, 0).
public enum ReLU {
    /// y may alias x (in place).
    public static func forward(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, count: Int) {
        mapElements(x, y, count: count) { v, _ in v > 0 ? v : 0 }
    }

    /// **Accumulates** dx += dy·[x > 0]. `x` may be the saved input or the output (x > 0 ⇔ y > 0),
    /// so an in-place ReLU needs no extra buffer. dx must not alias dy.
    public static func backward(x: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { dx[i] += x[i] > 0 ? dy[i] : 0 }
    }
}

/// y = x·σ(x) (Mamba's conv output and gate).
public enum SiLU {
    /// y may alias x.
    public static func forward(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, count: Int) {
        mf_silu_forward(x, y, count)
    }

    /// **Accumulates** dx += dy·σ(x)·(1 + x·(1 − σ(x))) from the saved input x.
    public static func backward(x: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, count: Int) {
        mf_silu_backward(x, dy, dx, count)
    }
}

/// y = softplus(x) with PyTorch's defaults (β = 1, threshold 20): x > 20 → x, else log1p(exp x).
public enum Softplus {
    public static let threshold: Float = 20

    /// y may alias x.
    public static func forward(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, count: Int) {
        mf_vsoftplus(x, y, count)
    }

    /// **Accumulates** dx += dy·(x > 20 ? 1 : eˣ/(eˣ + 1)) from the saved input x (PyTorch's rule).
    public static func backward(x: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, count: Int) {
        mf_softplus_backward(x, dy, dx, count)
    }
}

/// y = x·Φ(x) = ½·x·(1 + erf(x/√2)): the exact GELU (PyTorch's `nn.GELU()`; MUSE's pyramid).
public enum GELU {
    /// y may alias x.
    public static func forward(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, count: Int) {
        mf_gelu_forward(x, y, count)
    }

    /// **Accumulates** dx += dy·(Φ(x) + x·φ(x)) from the saved input x. dx must not alias dy.
    public static func backward(x: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, count: Int) {
        mf_gelu_backward(x, dy, dx, count)
    }
}

/// y = exp(x) (Mamba's A = −exp(A_log) and the discretisation exp(Δ·A)).
public enum Exp {
    /// y may alias x.
    public static func forward(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, count: Int) {
        mf_vexp(x, y, count)
    }

    /// **Accumulates** dx += dy·y from the saved output y.
    public static func backward(y: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { dx[i] += dy[i] * y[i] }
    }
}
