import CounterRandom

/// Initialisation exactly as MODEL.md §5, from the seed through the counter-based generator:
/// tensor number i of the layout draws element j from
/// `RandomStream(seed, .initialisation, step: 0, item: i)` at index j, so the initial model is a
/// pure function of (seed, configuration), identical on every rank.
///
/// - Linear and Embedding weights ~ N(0, 0.02); Linear biases 0 (incl. Mamba's dt_proj.bias, so
///   the initial Δ ≈ softplus(0)).
/// - LayerNorm weight 1, bias 0.
/// - Mamba conv1d weight and bias ~ U(−0.5, 0.5) (PyTorch's default bound 1/√fan_in, fan_in = 4);
///   A_log[c, n] = log(n + 1); D = 1.
/// - Fusion in_proj_weight ~ xavier-uniform, bound √(6/(fan_in + fan_out)) with the packed
///   (3d × d) shape; in_proj_bias 0.
/// - The unused vid_embed_proj Conv2d keeps PyTorch's default U(−1/√fan_in, 1/√fan_in), and so do
///   2-D convolutions (MUSE's pyramid: fan_in = size(1)·k² of the weight, for its bias too).
public enum ParameterInitializer {
    public static let linearStd: Float = 0.02

    public static func initialize(_ parameters: ParameterSet, seed: UInt64) {
        for (i, spec) in parameters.layout.specs.enumerated() {
            let t = parameters.tensor(spec)
            let stream = RandomStream(seed: seed, purpose: .initialisation, step: 0, item: UInt32(i))
            let buffer = t.buffer
            switch spec.kind {
            case .linearWeight, .embedding:
                stream.fillNormal(buffer, mean: 0, std: linearStd)
            case .linearBias, .layerNormBias, .attentionInProjectionBias:
                buffer.update(repeating: 0)
            case .layerNormWeight, .skipScale:
                buffer.update(repeating: 1)
            case .convolutionWeight, .convolutionBias:
                stream.fillUniform(buffer, low: -0.5, high: 0.5)
            case .stateLogDecay:
                let states = spec.shape[1]
                for c in 0..<spec.shape[0] {
                    for n in 0..<states { buffer[c * states + n] = Float(Double(n + 1).logarithm) }
                }
            case .attentionInProjectionWeight:
                let bound = Float((6.0 / Double(spec.shape[0] + spec.shape[1])).squareRoot())
                stream.fillUniform(buffer, low: -bound, high: bound)
            case .convolution2DWeight, .convolution2DBias:
                // fan_in = size(1)·k² of the weight: the bias is `<prefix>.bias` of `<prefix>.weight`.
                let weight = spec.kind == .convolution2DWeight ? spec
                    : parameters.layout[String(spec.name.dropLast("bias".count)) + "weight"]
                let bound = Float(1 / Double(weight.shape.dropFirst().reduce(1, *)).squareRoot())
                stream.fillUniform(buffer, low: -bound, high: bound)
            case .unusedWeight, .unusedBias:
                let fanIn = spec.kind == .unusedWeight ? spec.shape.dropFirst().reduce(1, *) : 5
                let bound = Float(1 / Double(fanIn).squareRoot())
                stream.fillUniform(buffer, low: -bound, high: bound)
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

extension Double {
    /// Natural logarithm (Glibc `log`), spelled so it never collides with a local named `log`.
    var logarithm: Double { Glibc.log(self) }
}
