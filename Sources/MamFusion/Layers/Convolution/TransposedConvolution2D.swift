import TensorKit

/// A 2-D transposed convolution with kernel 2 and stride 2, with bias — PyTorch's
/// `nn.ConvTranspose2d(c_in, c_out, 2, stride=2)`, which doubles the grid (MUSE's scale-2 branch,
/// 7×7 → 14×14) — on channels-last maps (`FeatureMapShape`):
///
///     y[f, 2i + a, 2j + b, o] = bias[o] + Σ_c x[f, i, j, c] · W[c, o, a, b]
///
/// Weight in PyTorch's layout [c_in, c_out, 2, 2]. With kernel = stride the output positions of
/// different input positions never overlap, and the stored weight read as a [c_in × 4·c_out]
/// matrix (columns in (o, a, b) order) maps one input row to its 2×2 block at once: one GEMM per
/// block of images into a staging buffer, then a scatter to the grid.
public struct TransposedConvolution2D: Sendable {
    public let inChannels: Int
    public let outChannels: Int

    public init(inChannels: Int, outChannels: Int) {
        precondition(inChannels >= 1 && outChannels >= 1, "ConvTranspose2d needs positive sizes")
        (self.inChannels, self.outChannels) = (inChannels, outChannels)
    }

    /// Weight floats: c_in·c_out·4.
    public var weightCount: Int { inChannels * outChannels * 4 }

    /// The output shape for input `shape`: twice the grid, c_out channels.
    public func outputShape(_ shape: FeatureMapShape) -> FeatureMapShape {
        FeatureMapShape(images: shape.images, height: 2 * shape.height, width: 2 * shape.width, channels: outChannels)
    }

    /// The staging buffer ([input rows of a block × 4·c_out]), reused from call to call.
    public final class Workspace {
        /// Floats the staging buffer aims at (≈ 32 MiB).
        public static let budget = 1 << 23
        var staged = FloatStorage(count: 0)
        public init() {}

        func reserve(_ count: Int) -> UnsafeMutablePointer<Float> {
            if staged.count < count { staged = FloatStorage(count: count) }
            return staged.base
        }
    }

    func blockImages(_ shape: FeatureMapShape) -> Int {
        max(1, min(shape.images, Workspace.budget / max(1, shape.positions * 4 * outChannels)))
    }

    public func forward(x: UnsafePointer<Float>, shape: FeatureMapShape, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                        y: UnsafeMutablePointer<Float>, workspace ws: Workspace) {
        precondition(shape.channels == inChannels, "ConvTranspose2d input has \(shape.channels) channels, expected \(inChannels)")
        let block = blockImages(shape)
        let staged = ws.reserve(block * shape.positions * 4 * outChannels)
        var first = 0
        while first < shape.images {
            let images = min(block, shape.images - first)
            Matmul.forward(m: images * shape.positions, n: 4 * outChannels, k: inChannels, a: x + first * shape.positions * inChannels,
                           b: weight, c: staged)
            transfer(images: images, first: first, shape: shape, staged: staged, grid: y, toGrid: true, bias: bias)
            first += images
        }
    }

    /// **Accumulates** dWeight, dBias and (when given) dx from dy (the output's gradient).
    public func backward(x: UnsafePointer<Float>, shape: FeatureMapShape, weight: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                         dx: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>,
                         workspace ws: Workspace) {
        BiasAdd.backward(dy: dy, dx: nil, dBias: dBias, rows: outputShape(shape).rows, cols: outChannels)
        let block = blockImages(shape)
        let staged = ws.reserve(block * shape.positions * 4 * outChannels)
        var first = 0
        while first < shape.images {
            let images = min(block, shape.images - first)
            // ∂y gathered into the staging layout, then the GEMM's gradients.
            transfer(images: images, first: first, shape: shape, staged: staged, grid: UnsafeMutablePointer(mutating: dy), toGrid: false, bias: nil)
            Matmul.backward(m: images * shape.positions, n: 4 * outChannels, k: inChannels, a: x + first * shape.positions * inChannels,
                            b: weight, dC: staged, dA: dx.map { $0 + first * shape.positions * inChannels }, dB: dWeight)
            first += images
        }
    }

    /// Between the staging rows (one per input position, columns (o, a, b)) of images
    /// first ..< first + images and the output grid: `toGrid` writes y[f, 2i + a, 2j + b, o] =
    /// staged + bias[o]; otherwise gathers staged = grid.
    private func transfer(images: Int, first: Int, shape: FeatureMapShape, staged: UnsafeMutablePointer<Float>,
                          grid: UnsafeMutablePointer<Float>, toGrid: Bool, bias: UnsafePointer<Float>?) {
        let h = shape.height, w = shape.width, c = outChannels
        for f in 0..<images {
            for i in 0..<h {
                for j in 0..<w {
                    let row = staged + ((f * h + i) * w + j) * 4 * c
                    for a in 0..<2 {
                        for b in 0..<2 {
                            let cell = grid + (((first + f) * 2 * h + 2 * i + a) * 2 * w + 2 * j + b) * c
                            let column = a * 2 + b
                            if toGrid {
                                for o in 0..<c { cell[o] = row[o * 4 + column] + bias![o] }
                            } else {
                                for o in 0..<c { row[o * 4 + column] = cell[o] }
                            }
                        }
                    }
                }
            }
        }
    }
}
