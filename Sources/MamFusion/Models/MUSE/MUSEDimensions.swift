/// The sizes of one MUSE configuration (MUSE.md §2, §4): every layer takes its shapes from here.
/// Reference: W 512, G 7, T 12, d_state 16, d_conv 4, expand 1, 4 blocks, drop path 0 … 0.1.
public struct MUSEDimensions: Sendable, Equatable, Codable {
    /// W: CLIP's embedding width (tokens, captions, the Mamba model width).
    public var width: Int
    /// G: the patch grid is G × G (ViT-B/32 at 224²: 7).
    public var grid: Int
    /// T: frames per video (real ones plus padding frames).
    public var frames: Int
    /// Mamba d_state, d_conv and expand (d_inner = expand·W; dt_rank = ⌈W/16⌉).
    public var state: Int
    public var convolution: Int
    public var expand: Int
    /// ResMamba blocks.
    public var blocks: Int
    /// The last block's dropout rate; block i uses linspace(0, maxDropout, blocks)[i].
    public var maxDropout: Double

    public init(width: Int = 512, grid: Int = 7, frames: Int = 12, state: Int = 16, convolution: Int = 4, expand: Int = 1,
                blocks: Int = 4, maxDropout: Double = 0.1) {
        (self.width, self.grid, self.frames, self.state) = (width, grid, frames, state)
        (self.convolution, self.expand, self.blocks, self.maxDropout) = (convolution, expand, blocks, maxDropout)
    }

    /// Tokens per frame: [CLS] + G².
    public var tokensPerFrame: Int { 1 + grid * grid }
    /// The scale-½ grid after 2×2 max pooling (floor): ⌊G/2⌋.
    public var halfGrid: Int { grid / 2 }
    /// The scale-2 grid after the 2×2 transposed convolution: 2G.
    public var doubleGrid: Int { 2 * grid }
    /// Positions per frame over the three scales: ⌊G/2⌋² + G² + (2G)².
    public var pyramidPositions: Int { halfGrid * halfGrid + grid * grid + doubleGrid * doubleGrid }
    /// L: the sequence one video becomes, [CLS × T | ½ | 1 | 2] = T·(1 + pyramid positions)
    /// (3,060 at the reference sizes).
    public var sequenceLength: Int { frames * (1 + pyramidPositions) }
    /// Floats of one video's input tokens: T·(1 + G²)·W.
    public var videoFloats: Int { frames * tokensPerFrame * width }

    /// The Mamba unit's sizes in the form the shared Mamba kernels take.
    public var mamba: ModelDimensions {
        var d = ModelDimensions(hidden: width, heads: 1, maxContextLength: sequenceLength)
        d.mambaState = state
        d.mambaConvolution = convolution
        d.mambaExpand = expand
        return d
    }

    /// Block i's dropout rate: linspace(0, maxDropout, blocks)[i] (numpy's formula).
    public func dropout(block i: Int) -> Double {
        blocks == 1 ? 0 : maxDropout * Double(i) / Double(blocks - 1)
    }
}
