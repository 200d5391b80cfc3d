/// 2×2 max pooling with stride 2 and PyTorch's floor rule (a 7×7 grid gives 3×3; the last row
/// and column are dropped) — `nn.MaxPool2d(2, 2)` — on channels-last maps (`FeatureMapShape`):
///
///     y[f, i, j, c] = max_{a, b ∈ {0, 1}} x[f, 2i + a, 2j + b, c]
///
/// Forward only: in MUSE it is the first operation of the scale-½ branch, on CLIP's tokens,
/// which are inputs and never need a gradient.
public enum MaxPool2D {
    /// The output shape for input `shape`: ⌊h/2⌋ × ⌊w/2⌋, same channels.
    public static func outputShape(_ shape: FeatureMapShape) -> FeatureMapShape {
        FeatureMapShape(images: shape.images, height: shape.height / 2, width: shape.width / 2, channels: shape.channels)
    }

    public static func forward(x: UnsafePointer<Float>, shape: FeatureMapShape, y: UnsafeMutablePointer<Float>) {
        let out = outputShape(shape), c = shape.channels
        for f in 0..<shape.images {
            for i in 0..<out.height {
                for j in 0..<out.width {
                    let target = y + ((f * out.height + i) * out.width + j) * c
                    let p00 = x + ((f * shape.height + 2 * i) * shape.width + 2 * j) * c
                    let p01 = p00 + c, p10 = p00 + shape.width * c, p11 = p10 + c
                    for k in 0..<c { target[k] = max(max(p00[k], p01[k]), max(p10[k], p11[k])) }
                }
            }
        }
    }
}
