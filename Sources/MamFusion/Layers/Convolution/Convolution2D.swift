import TensorKit

/// A 2-D convolution with a square kernel of odd size k, stride 1 and zero padding (k−1)/2 (so
/// the grid keeps its size), with bias — PyTorch's `nn.Conv2d(c_in, c_out, k, padding=(k−1)/2)` —
/// on channels-last maps (`FeatureMapShape`):
///
///     y[f, i, j, o] = b[o] + Σ_{c, a, b'} W[o, c, a, b'] · x[f, i + a − p, j + b' − p, c]
///
/// Weight in PyTorch's layout [c_out, c_in, k, k] (the checkpoint's), bias [c_out].
///
/// k = 1 is a Linear over rows. For k > 1 the products are one GEMM per block of images through
/// an im2col buffer: each output position's k·k neighbours are copied as k² contiguous channel
/// vectors, so the column order is (a, b', c) and the weight is used permuted to
/// [c_out, k, k, c_in] (`Workspace.permutedWeight`, rebuilt at every forward and backward from the
/// current weight; its gradient is permuted back). Blocks of images keep the im2col buffer near
/// `Workspace.columnBudget` floats however large the batch.
public struct Convolution2D: Sendable {
    public let inChannels: Int
    public let outChannels: Int
    public let kernel: Int

    public init(inChannels: Int, outChannels: Int, kernel: Int) {
        precondition(inChannels >= 1 && outChannels >= 1 && kernel >= 1 && kernel % 2 == 1, "Conv2d needs positive sizes and an odd kernel")
        (self.inChannels, self.outChannels, self.kernel) = (inChannels, outChannels, kernel)
    }

    /// Weight floats: c_out·c_in·k².
    public var weightCount: Int { outChannels * inChannels * kernel * kernel }
    /// Columns of the im2col matrix: k²·c_in.
    var columns: Int { kernel * kernel * inChannels }

    /// Buffers of the k > 1 path, reused from call to call (sized for the largest map seen).
    public final class Workspace {
        /// Floats the im2col buffer aims at (≈ 32 MiB).
        public static let columnBudget = 1 << 23
        var permutedWeight = FloatStorage(count: 0)
        var permutedGradient = FloatStorage(count: 0)
        var columns = FloatStorage(count: 0)
        var columnGradient = FloatStorage(count: 0)
        public init() {}

        /// `buffer`, grown to at least `count` floats (contents not kept when it grows).
        static func reserve(_ buffer: inout FloatStorage, _ count: Int) -> UnsafeMutablePointer<Float> {
            if buffer.count < count { buffer = FloatStorage(count: count) }
            return buffer.base
        }
    }

    /// Images per im2col block for maps of `shape`.
    func blockImages(_ shape: FeatureMapShape) -> Int {
        max(1, min(shape.images, Workspace.columnBudget / max(1, shape.positions * columns)))
    }

    /// y = conv(x) + b. x: `shape` with c_in channels; y: the same grid with c_out channels.
    public func forward(x: UnsafePointer<Float>, shape: FeatureMapShape, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                        y: UnsafeMutablePointer<Float>, workspace ws: Workspace) {
        precondition(shape.channels == inChannels, "Conv2d input has \(shape.channels) channels, expected \(inChannels)")
        if kernel == 1 {
            Linear.forward(x: x, weight: weight, bias: bias, y: y, rows: shape.rows, inFeatures: inChannels, outFeatures: outChannels)
            return
        }
        let w = Workspace.reserve(&ws.permutedWeight, weightCount)
        permute(weight, into: w)
        let block = blockImages(shape)
        let col = Workspace.reserve(&ws.columns, block * shape.positions * columns)
        var first = 0
        while first < shape.images {
            let images = min(block, shape.images - first)
            im2col(x + first * shape.positions * inChannels, images: images, shape: shape, into: col)
            Linear.forward(x: col, weight: w, bias: bias, y: y + first * shape.positions * outChannels,
                           rows: images * shape.positions, inFeatures: columns, outFeatures: outChannels)
            first += images
        }
    }

    /// **Accumulates** dWeight, dBias and (when given) dx from dy, for the x of the forward.
    public func backward(x: UnsafePointer<Float>, shape: FeatureMapShape, weight: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                         dx: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>,
                         workspace ws: Workspace) {
        if kernel == 1 {
            Linear.backward(x: x, weight: weight, dy: dy, dx: dx, dWeight: dWeight, dBias: dBias,
                            rows: shape.rows, inFeatures: inChannels, outFeatures: outChannels)
            return
        }
        let w = Workspace.reserve(&ws.permutedWeight, weightCount)
        permute(weight, into: w)
        let dw = Workspace.reserve(&ws.permutedGradient, weightCount)
        dw.update(repeating: 0, count: weightCount)
        let block = blockImages(shape)
        let col = Workspace.reserve(&ws.columns, block * shape.positions * columns)
        let dcol = dx == nil ? nil : Workspace.reserve(&ws.columnGradient, block * shape.positions * columns)
        var first = 0
        while first < shape.images {
            let images = min(block, shape.images - first)
            let rows = images * shape.positions
            im2col(x + first * shape.positions * inChannels, images: images, shape: shape, into: col)
            dcol?.update(repeating: 0, count: rows * columns)
            Linear.backward(x: col, weight: w, dy: dy + first * shape.positions * outChannels, dx: dcol, dWeight: dw,
                            dBias: dBias, rows: rows, inFeatures: columns, outFeatures: outChannels)
            if let dx, let dcol { col2im(dcol, images: images, shape: shape, into: dx + first * shape.positions * inChannels) }
            first += images
        }
        // ∂W[o, c, a, b'] += ∂W_perm[o, a, b', c]
        let k2 = kernel * kernel
        for o in 0..<outChannels {
            for t in 0..<k2 {
                let source = dw + (o * k2 + t) * inChannels
                let target = dWeight + o * inChannels * k2 + t
                for c in 0..<inChannels { target[c * k2] += source[c] }
            }
        }
    }

    /// [c_out, c_in, k, k] → [c_out, k, k, c_in].
    private func permute(_ weight: UnsafePointer<Float>, into p: UnsafeMutablePointer<Float>) {
        let k2 = kernel * kernel
        for o in 0..<outChannels {
            for c in 0..<inChannels {
                let source = weight + (o * inChannels + c) * k2
                for t in 0..<k2 { p[(o * k2 + t) * inChannels + c] = source[t] }
            }
        }
    }

    /// col[(f, i, j), (a, b', c)] = x[f, i + a − p, j + b' − p, c], 0 outside the grid.
    private func im2col(_ x: UnsafePointer<Float>, images: Int, shape: FeatureMapShape, into col: UnsafeMutablePointer<Float>) {
        forEachNeighbour(images: images, shape: shape, columns: col) { column, source in
            if let source { column.update(from: x + source, count: inChannels) } else { column.update(repeating: 0, count: inChannels) }
        }
    }

    /// The adjoint of `im2col`: dx[f, i + a − p, j + b' − p, c] += dcol[(f, i, j), (a, b', c)].
    private func col2im(_ dcol: UnsafeMutablePointer<Float>, images: Int, shape: FeatureMapShape, into dx: UnsafeMutablePointer<Float>) {
        forEachNeighbour(images: images, shape: shape, columns: dcol) { column, source in
            if let source { Vector.axpy(alpha: 1, x: column, y: dx + source, count: inChannels) }
        }
    }

    /// Visits every (output position, kernel offset) of `images` maps: `body(the block of c_in
    /// floats in the im2col row, the offset of the neighbour's row in the map — nil when it lies
    /// in the zero padding)`.
    @inline(__always)
    private func forEachNeighbour(images: Int, shape: FeatureMapShape, columns col: UnsafeMutablePointer<Float>,
                                  _ body: (UnsafeMutablePointer<Float>, Int?) -> Void) {
        let h = shape.height, w = shape.width, c = inChannels, k = kernel, p = (kernel - 1) / 2
        for f in 0..<images {
            for i in 0..<h {
                for j in 0..<w {
                    var column = col + ((f * h + i) * w + j) * columns
                    for a in 0..<k {
                        let si = i + a - p
                        for b in 0..<k {
                            let sj = j + b - p
                            body(column, si >= 0 && si < h && sj >= 0 && sj < w ? ((f * h + si) * w + sj) * c : nil)
                            column += c
                        }
                    }
                }
            }
        }
    }
}
