import CKernels

// Reductions along the middle axis of a row-major [outer, axis, inner] view: y[o, i] is computed
// over x[o, 0..<axis, i]. (inner = 1 reduces the last axis, outer = 1 the first.) Outputs y are
// [outer × inner]; forward overwrites y, backward **accumulates** into dx [outer × axis × inner].
// Sums are blocked (16-way within a row for inner = 1, `ColumnSums` otherwise).

/// y = Σ_a x[o, a, i].
public enum ReduceSum {
    public static func forward(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, outer: Int, axis: Int, inner: Int) {
        reduce(x: x, y: y, outer: outer, axis: axis, inner: inner, scale: 1)
    }

    /// **Accumulates** dx[o, a, i] += dy[o, i].
    public static func backward(dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, outer: Int, axis: Int, inner: Int) {
        broadcast(dy: dy, dx: dx, outer: outer, axis: axis, inner: inner, scale: 1)
    }

    static func reduce(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, outer: Int, axis: Int, inner: Int, scale: Float) {
        for o in 0..<outer {
            let xo = x + o * axis * inner, yo = y + o * inner
            if inner == 1 {
                yo[0] = scale * mf_sum(xo, axis)
            } else {
                yo.update(repeating: 0, count: inner)
                ColumnSums.accumulate(xo, rows: axis, cols: inner, ld: inner, into: yo, scale: scale)
            }
        }
    }

    static func broadcast(dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, outer: Int, axis: Int, inner: Int, scale: Float) {
        for o in 0..<outer {
            let go = dy + o * inner
            for a in 0..<axis {
                let dxa = dx + (o * axis + a) * inner
                for i in 0..<inner { dxa[i] += scale * go[i] }
            }
        }
    }
}

/// y = (1/axis)·Σ_a x[o, a, i].
public enum ReduceMean {
    public static func forward(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, outer: Int, axis: Int, inner: Int) {
        ReduceSum.reduce(x: x, y: y, outer: outer, axis: axis, inner: inner, scale: 1 / Float(axis))
    }

    /// **Accumulates** dx[o, a, i] += dy[o, i] / axis.
    public static func backward(dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, outer: Int, axis: Int, inner: Int) {
        ReduceSum.broadcast(dy: dy, dx: dx, outer: outer, axis: axis, inner: inner, scale: 1 / Float(axis))
    }
}

/// y = max_a x[o, a, i], saving the arg-max (lowest index among ties) for backward
/// (MODEL.md §3: the clip score is a max over the 32 clips).
public enum ReduceMax {
    /// Writes y and argmax [outer × inner] (Int32 indices along the axis). axis must be ≥ 1.
    public static func forward(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<Int32>,
                               outer: Int, axis: Int, inner: Int) {
        precondition(axis >= 1, "ReduceMax needs a non-empty axis")
        if inner == 1 {
            // A row maximum (vectorised), then the first position holding it.
            for o in 0..<outer {
                let xo = x + o * axis
                let m = mf_max(xo, axis)
                var index = 0
                while index < axis - 1 && !(xo[index] == m) { index += 1 }
                y[o] = xo[index]
                argmax[o] = Int32(index)
            }
            return
        }
        for o in 0..<outer {
            let xo = x + o * axis * inner, yo = y + o * inner, io = argmax + o * inner
            yo.update(from: xo, count: inner)
            io.update(repeating: 0, count: inner)
            for a in 1..<axis {
                let xa = xo + a * inner
                let index = Int32(a)
                for i in 0..<inner {
                    let better = xa[i] > yo[i]  // strict: ties keep the lowest index
                    io[i] = better ? index : io[i]
                    yo[i] = better ? xa[i] : yo[i]
                }
            }
        }
    }

    /// **Accumulates** dx[o, argmax[o, i], i] += dy[o, i] (the other positions get nothing).
    public static func backward(dy: UnsafePointer<Float>, argmax: UnsafePointer<Int32>, dx: UnsafeMutablePointer<Float>,
                                outer: Int, axis: Int, inner: Int) {
        for o in 0..<outer {
            let go = dy + o * inner, io = argmax + o * inner, dxo = dx + o * axis * inner
            for i in 0..<inner { dxo[Int(io[i]) * inner + i] += go[i] }
        }
    }
}
