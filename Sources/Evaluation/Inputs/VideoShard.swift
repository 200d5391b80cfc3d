import TensorKit

/// The videos one rank holds: their normalised clip and frame embeddings and their global
/// indices (position in the test videos' first-appearance order, MODEL.md §8).
///
/// Global indices are strictly increasing — a rank holds whole chunks of consecutive videos
/// (`VideoPartition`) — and the ranks' sets are disjoint and together cover 0..<V. The tie rule
/// of DISTRIBUTED.md §5 orders videos by this index.
public struct VideoShard {
    /// [Vr, Mc, d] clip embeddings ĉ (Mc = 32 clips per video), L2-normalised per clip.
    public let clips: Tensor
    /// [Vr, d] frame embeddings f̂, L2-normalised.
    public let frames: Tensor
    /// Global index of each local video (Vr entries, strictly increasing).
    public let globalIndices: [Int]

    public init(clips: Tensor, frames: Tensor, globalIndices: [Int]) throws {
        guard clips.rank == 3, frames.rank == 2 else {
            throw EvaluationError.invalidInput("clip embeddings must be [V, Mc, d] and frame embeddings [V, d]; got \(clips.shape) and \(frames.shape)")
        }
        guard clips.shape[0] == frames.shape[0], clips.shape[0] == globalIndices.count, clips.shape[2] == frames.shape[1] else {
            throw EvaluationError.invalidInput("clip \(clips.shape), frame \(frames.shape) and \(globalIndices.count) indices disagree")
        }
        for i in globalIndices.indices where globalIndices[i] < 0 || (i > 0 && globalIndices[i] <= globalIndices[i - 1]) {
            throw EvaluationError.invalidInput("video global indices must be non-negative and strictly increasing (position \(i): \(globalIndices[i]))")
        }
        if let last = globalIndices.last, last > Int(Int32.max) - 1 {
            throw EvaluationError.invalidInput("video index \(last) does not fit 32 bits")
        }
        self.clips = clips
        self.frames = frames
        self.globalIndices = globalIndices
    }

    /// A shard of the consecutive videos `range` (the usual case: whole chunks of one rank).
    public init(clips: Tensor, frames: Tensor, videos range: Range<Int>) throws {
        try self.init(clips: clips, frames: frames, globalIndices: Array(range))
    }

    /// Vr, the number of local videos.
    public var count: Int { globalIndices.count }
    /// Mc, clips per video.
    public var clipsPerVideo: Int { clips.shape[1] }
    /// d.
    public var dim: Int { clips.shape[2] }

    /// The local position of global video `index`, or nil if another rank holds it
    /// (binary search: indices are sorted).
    public func localPosition(ofVideo index: Int) -> Int? {
        var low = 0, high = globalIndices.count
        while low < high {
            let mid = (low + high) / 2
            if globalIndices[mid] < index { low = mid + 1 } else { high = mid }
        }
        return low < globalIndices.count && globalIndices[low] == index ? low : nil
    }
}
