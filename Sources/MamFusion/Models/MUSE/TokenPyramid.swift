import TensorKit

/// MUSE's input sequence from a video's CLIP tokens (MUSE.md §2.1–2.3): the [CLS] tokens, then the
/// three pyramid scales of the patch maps, scale-wise:
///
///     [ v0 (T) | ½ (T·⌊G/2⌋²) | 1 (T·G²) | 2 (T·4G²) ]  = L rows of W
///
/// frame-major inside a scale, row-major inside a frame; no positional or scale embedding, and
/// padding frames go through like real ones (the mask is used only by the readout).
///
/// Input: videos × [T, 1 + G², W] tokens ([CLS] then the patches row-major, per frame). Output:
/// videos × L rows, packed one video after another.
///
/// A frozen pyramid (the official behaviour, MUSE.md §2.2 ⚠) runs video by video, so its buffers
/// hold one video's maps whatever the batch; a trained one (`muse_train_pyramid`) runs the whole
/// batch at once and keeps what its backward needs.
public final class TokenPyramid {
    public let dimensions: MUSEDimensions
    public let branches: [PyramidBranch]
    public var isTrainable: Bool { branches[0].gradients != nil }
    /// The patch maps of the videos of the current pass ([videos·T, G, G, W]), the branches' input.
    let patches = ActivationBuffer()
    let scratch: ScratchArena
    private var savedVideos = 0

    /// `gradients` nil: frozen.
    public init(dimensions: MUSEDimensions, parameters: (PyramidBranch.Scale) -> PyramidBranch.Parameters,
                gradients: ((PyramidBranch.Scale) -> PyramidBranch.Parameters)?, scratch: ScratchArena) {
        self.dimensions = dimensions
        self.scratch = scratch
        branches = PyramidBranch.Scale.allCases.map {
            PyramidBranch(scale: $0, width: dimensions.width, grid: dimensions.grid, parameters: parameters($0), gradients: gradients?($0))
        }
    }

    /// First row of `scale` inside a video's sequence, and its rows per frame.
    func placement(_ scale: PyramidBranch.Scale) -> (start: Int, perFrame: Int) {
        let t = dimensions.frames, half = dimensions.halfGrid, g = dimensions.grid
        switch scale {
        case .half: return (t, half * half)
        case .one: return (t + t * half * half, g * g)
        case .double: return (t + t * (half * half + g * g), 4 * g * g)
        }
    }

    /// Writes the sequences (videos × L × W) of `videos` videos' tokens.
    public func forward(tokens: UnsafePointer<Float>, videos: Int, sequences: UnsafeMutablePointer<Float>) {
        let d = dimensions, w = d.width, t = d.frames, n = d.tokensPerFrame, l = d.sequenceLength
        let chunk = isTrainable ? max(videos, 1) : 1
        var first = 0
        while first < videos {
            let count = min(chunk, videos - first)
            let maps = patches.reserve(count * t * (n - 1) * w)
            for v in 0..<count {
                for f in 0..<t {
                    let frame = tokens + ((first + v) * t + f) * n * w
                    (sequences + ((first + v) * l + f) * w).update(from: frame, count: w)
                    (maps + (v * t + f) * (n - 1) * w).update(from: frame + w, count: (n - 1) * w)
                }
            }
            for branch in branches {
                let out = branch.forward(maps, images: count * t)
                let (start, perFrame) = placement(branch.scale)
                for v in 0..<count {
                    (sequences + ((first + v) * l + start) * w).update(from: out + v * t * perFrame * w, count: t * perFrame * w)
                }
            }
            first += count
        }
        savedVideos = videos
    }

    /// **Accumulates** the branches' parameter gradients from ∂L/∂sequences (videos × L × W).
    /// Trainable pyramids only; the [CLS] rows carry no parameter.
    public func backward(sequenceGradient ds: UnsafePointer<Float>) {
        precondition(isTrainable, "TokenPyramid.backward on a frozen pyramid")
        let w = dimensions.width, t = dimensions.frames, l = dimensions.sequenceLength, videos = savedVideos
        for branch in branches {
            let (start, perFrame) = placement(branch.scale)
            let gathered = scratch.slot(3, videos * t * perFrame * w)
            for v in 0..<videos {
                (gathered + v * t * perFrame * w).update(from: ds + (v * l + start) * w, count: t * perFrame * w)
            }
            branch.backward(gathered, scratch: scratch)
        }
    }
}
