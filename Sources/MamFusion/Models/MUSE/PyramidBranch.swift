import TensorKit

/// One scale of MUSE's token pyramid (`modeling`:415–461; MUSE.md §2.2), on the patch maps of
/// frames ([images, G, G, W] channels-last):
///
///     half:   MaxPool 2×2/2 (⌊G/2⌋)          → tail(c_in = W)
///     one:    identity (G)                   → tail(c_in = W)
///     double: ConvTranspose2d(W → W/2, 2, 2) → tail(c_in = W/2)      (2G)
///     tail = Conv2d(c_in → W, 1×1) → LayerNorm_c → GELU → Conv2d(W → W, 3×3, pad 1) → LayerNorm_c
///
/// LayerNorm over channels (eps 1e-5). Parameter names are those the official layers would have
/// had in an `nn.ModuleList` of `nn.Sequential`s (`mamba_stages.<scale>.<layer>.…`; the official
/// code keeps them in a plain list, so no checkpoint has them — MUSE.md §2.2 ⚠).
///
/// Backward (for `muse_train_pyramid`) gives every parameter's gradient but no input gradient:
/// the input is CLIP's tokens, which are not trained.
public final class PyramidBranch {
    public enum Scale: Int, Sendable, CaseIterable {
        case half = 0, one = 1, double = 2
    }

    /// The tensors of one branch, by layer.
    public struct Parameters {
        /// ConvTranspose2d weight [W, W/2, 2, 2] and bias [W/2] (double only).
        public let upWeight: Tensor?, upBias: Tensor?
        /// Conv2d 1×1 [W, c_in, 1, 1], [W]; LayerNorm [W]; Conv2d 3×3 [W, W, 3, 3], [W]; LayerNorm [W].
        public let pointWeight: Tensor, pointBias: Tensor
        public let firstNormWeight: Tensor, firstNormBias: Tensor
        public let spatialWeight: Tensor, spatialBias: Tensor
        public let secondNormWeight: Tensor, secondNormBias: Tensor

        /// Views by name (the names of `PyramidBranch.names`).
        public init(scale: Scale, width: Int, view: (String) -> Tensor) {
            func checked(_ name: String) -> Tensor {
                let t = view(name)
                let shape = PyramidBranch.shape(name, scale: scale, width: width)
                precondition(t.shape == shape, "pyramid \(name): expected shape \(shape), got \(t.shape)")
                return t
            }
            let n = PyramidBranch.names(scale)
            let first = scale == .double ? 2 : 0
            upWeight = scale == .double ? checked(n[0]) : nil
            upBias = scale == .double ? checked(n[1]) : nil
            (pointWeight, pointBias) = (checked(n[first]), checked(n[first + 1]))
            (firstNormWeight, firstNormBias) = (checked(n[first + 2]), checked(n[first + 3]))
            (spatialWeight, spatialBias) = (checked(n[first + 4]), checked(n[first + 5]))
            (secondNormWeight, secondNormBias) = (checked(n[first + 6]), checked(n[first + 7]))
        }
    }

    /// The branch's tensor names in order: `mamba_stages.<scale>.<index in the Sequential>.{weight,bias}`.
    public static func names(_ scale: Scale) -> [String] {
        let layers: [Int]
        switch scale {
        case .half: layers = [1, 2, 4, 5]      // [MaxPool, Conv1×1, LN, GELU, Conv3×3, LN]
        case .one: layers = [0, 1, 3, 4]       // [Conv1×1, LN, GELU, Conv3×3, LN]
        case .double: layers = [0, 1, 2, 4, 5] // [ConvT, Conv1×1, LN, GELU, Conv3×3, LN]
        }
        return layers.flatMap { ["\(MUSEReference.pyramidPrefix)\(scale.rawValue).\($0).weight", "\(MUSEReference.pyramidPrefix)\(scale.rawValue).\($0).bias"] }
    }

    /// The PyTorch shape of tensor `name` of `scale`'s branch at width W.
    public static func shape(_ name: String, scale: Scale, width w: Int) -> [Int] {
        let n = names(scale)
        let first = scale == .double ? 2 : 0
        let inChannels = scale == .double ? w / 2 : w
        switch n.firstIndex(of: name)! - first {
        case -2: return [w, w / 2, 2, 2]
        case -1: return [w / 2]
        case 0: return [w, inChannels, 1, 1]
        case 4: return [w, w, 3, 3]
        default: return [w]
        }
    }

    /// fan_in of a weight or bias (PyTorch's default init draws U(±1/√fan_in) for both): c_in·k²
    /// for convolutions, size(1)·k² = W/2·4 for the transposed one; nil for LayerNorm tensors.
    public static func fanIn(_ name: String, scale: Scale, width w: Int) -> Int? {
        let first = scale == .double ? 2 : 0
        switch names(scale).firstIndex(of: name)! - first {
        case -2, -1: return w / 2 * 4
        case 0, 1: return (scale == .double ? w / 2 : w)
        case 4, 5: return w * 9
        default: return nil
        }
    }

    public let scale: Scale
    public let width: Int
    /// The input grid G.
    public let grid: Int
    let parameters: Parameters
    let gradients: Parameters?
    let point: Convolution2D, spatial: Convolution2D
    let up: TransposedConvolution2D?
    let pointWorkspace = Convolution2D.Workspace(), spatialWorkspace = Convolution2D.Workspace()
    let upWorkspace = TransposedConvolution2D.Workspace()
    /// The tail's input (pooled or up-sampled map; the caller's map for `one`), and the
    /// activations backward reads.
    let pre = ActivationBuffer(), point1 = ActivationBuffer(), normed1 = ActivationBuffer(), activated = ActivationBuffer()
    let spatial1 = ActivationBuffer(), mean1 = ActivationBuffer(), rstd1 = ActivationBuffer(), mean2 = ActivationBuffer(), rstd2 = ActivationBuffer()
    public let output = ActivationBuffer()
    private var saved: (input: UnsafePointer<Float>, images: Int)?

    /// `gradients` nil: a frozen branch (forward only).
    public init(scale: Scale, width: Int, grid: Int, parameters: Parameters, gradients: Parameters?) {
        precondition(scale != .double || width % 2 == 0, "the scale-2 branch needs an even width")
        (self.scale, self.width, self.grid, self.parameters, self.gradients) = (scale, width, grid, parameters, gradients)
        let inChannels = scale == .double ? width / 2 : width
        point = Convolution2D(inChannels: inChannels, outChannels: width, kernel: 1)
        spatial = Convolution2D(inChannels: width, outChannels: width, kernel: 3)
        up = scale == .double ? TransposedConvolution2D(inChannels: width, outChannels: width / 2) : nil
    }

    /// The output grid: ⌊G/2⌋, G or 2G.
    public var outputGrid: Int {
        switch scale {
        case .half: return grid / 2
        case .one: return grid
        case .double: return 2 * grid
        }
    }

    /// Runs the branch on `images` patch maps (images × G × G × W, channels-last); the result is
    /// `output` (images × g'² × W). A trainable branch keeps `input` (which must stay alive until
    /// backward) and its activations.
    @discardableResult
    public func forward(_ input: UnsafePointer<Float>, images: Int) -> UnsafeMutablePointer<Float> {
        let w = width
        let map = FeatureMapShape(images: images, height: grid, width: grid, channels: w)
        let out = FeatureMapShape(images: images, height: outputGrid, width: outputGrid, channels: w)
        var tailInput = input
        switch scale {
        case .half:
            let pooled = pre.reserve(out.count)
            MaxPool2D.forward(x: input, shape: map, y: pooled)
            tailInput = UnsafePointer(pooled)
        case .one:
            break
        case .double:
            let upsampled = pre.reserve(out.with(channels: w / 2).count)
            up!.forward(x: input, shape: map, weight: parameters.upWeight!.pointer, bias: parameters.upBias!.pointer, y: upsampled,
                        workspace: upWorkspace)
            tailInput = UnsafePointer(upsampled)
        }
        let n = out.count, rows = out.rows
        let a1 = point1.reserve(n), a2 = normed1.reserve(n), a3 = activated.reserve(n), a4 = spatial1.reserve(n)
        point.forward(x: tailInput, shape: out.with(channels: point.inChannels), weight: parameters.pointWeight.pointer,
                      bias: parameters.pointBias.pointer, y: a1, workspace: pointWorkspace)
        LayerNorm.forward(x: a1, weight: parameters.firstNormWeight.pointer, bias: parameters.firstNormBias.pointer, y: a2,
                          mean: mean1.reserve(rows), rstd: rstd1.reserve(rows), rows: rows, cols: w)
        GELU.forward(x: a2, y: a3, count: n)
        spatial.forward(x: a3, shape: out, weight: parameters.spatialWeight.pointer, bias: parameters.spatialBias.pointer, y: a4,
                        workspace: spatialWorkspace)
        let y = output.reserve(n)
        LayerNorm.forward(x: a4, weight: parameters.secondNormWeight.pointer, bias: parameters.secondNormBias.pointer, y: y,
                          mean: mean2.reserve(rows), rstd: rstd2.reserve(rows), rows: rows, cols: w)
        saved = (input, images)
        return y
    }

    /// **Accumulates** every parameter gradient from ∂L/∂output (images × g'² × W).
    public func backward(_ dOut: UnsafePointer<Float>, scratch: ScratchArena) {
        guard let g = gradients, let (input, images) = saved else { preconditionFailure("PyramidBranch.backward on a frozen branch or before forward") }
        let w = width
        let out = FeatureMapShape(images: images, height: outputGrid, width: outputGrid, channels: w)
        let n = out.count, rows = out.rows
        let d4 = scratch.zeroed(0, n)
        LayerNorm.backward(x: spatial1.pointer, weight: parameters.secondNormWeight.pointer, mean: mean2.pointer, rstd: rstd2.pointer,
                           dy: dOut, dx: d4, dWeight: g.secondNormWeight.pointer, dBias: g.secondNormBias.pointer, rows: rows, cols: w)
        let d3 = scratch.zeroed(1, n)
        spatial.backward(x: activated.pointer, shape: out, weight: parameters.spatialWeight.pointer, dy: d4, dx: d3,
                         dWeight: g.spatialWeight.pointer, dBias: g.spatialBias.pointer, workspace: spatialWorkspace)
        let d2 = scratch.zeroed(0, n)
        GELU.backward(x: normed1.pointer, dy: d3, dx: d2, count: n)
        let d1 = scratch.zeroed(1, n)
        LayerNorm.backward(x: point1.pointer, weight: parameters.firstNormWeight.pointer, mean: mean1.pointer, rstd: rstd1.pointer,
                           dy: d2, dx: d1, dWeight: g.firstNormWeight.pointer, dBias: g.firstNormBias.pointer, rows: rows, cols: w)
        let tailInput = scale == .one ? input : UnsafePointer(pre.pointer)
        // The tail's input needs a gradient only where it came from trained weights (scale 2).
        let dUp = scale == .double ? scratch.zeroed(2, out.with(channels: w / 2).count) : nil
        point.backward(x: tailInput, shape: out.with(channels: point.inChannels), weight: parameters.pointWeight.pointer, dy: d1, dx: dUp,
                       dWeight: g.pointWeight.pointer, dBias: g.pointBias.pointer, workspace: pointWorkspace)
        if let dUp, let up {
            up.backward(x: input, shape: FeatureMapShape(images: images, height: grid, width: grid, channels: w),
                        weight: parameters.upWeight!.pointer, dy: dUp, dx: nil, dWeight: g.upWeight!.pointer, dBias: g.upBias!.pointer,
                        workspace: upWorkspace)
        }
    }
}
