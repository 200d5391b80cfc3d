/// How the evaluation videos are spread over ranks (DISTRIBUTED.md §5): consecutive chunks of
/// `chunkSize` videos (`eval_context_bsz`) in first-appearance order — each chunk is encoded as
/// one batch padded to its own longest video — and each rank takes a contiguous run of whole
/// chunks (rank r: chunks ⌊rC/P⌋ ..< ⌊(r+1)C/P⌋), so a rank's videos are one global range (one
/// hyperslab in the embedding index) and the chunking never depends on the world size.
public struct VideoPartition: Sendable, Equatable {
    public let videoCount: Int
    public let chunkSize: Int
    public let ranks: Int

    public init(videoCount: Int, chunkSize: Int, ranks: Int) throws {
        guard videoCount >= 0, chunkSize >= 1, ranks >= 1 else {
            throw EvaluationError.invalidInput("partition needs videos ≥ 0, chunk size ≥ 1 and ranks ≥ 1 (got \(videoCount), \(chunkSize), \(ranks))")
        }
        self.videoCount = videoCount
        self.chunkSize = chunkSize
        self.ranks = ranks
    }

    /// C, the number of chunks (the last may be shorter, down to a single video).
    public var chunkCount: Int { (videoCount + chunkSize - 1) / chunkSize }

    /// The global videos of chunk `chunk`.
    public func videos(ofChunk chunk: Int) -> Range<Int> {
        min(chunk * chunkSize, videoCount)..<min((chunk + 1) * chunkSize, videoCount)
    }

    /// The chunks rank `rank` encodes (possibly none when there are more ranks than chunks).
    public func chunks(of rank: Int) -> Range<Int> {
        (rank * chunkCount / ranks)..<((rank + 1) * chunkCount / ranks)
    }

    /// The global videos rank `rank` holds: the union of its chunks (empty when it has none).
    public func videos(of rank: Int) -> Range<Int> {
        let c = chunks(of: rank)
        let start = videos(ofChunk: c.lowerBound).lowerBound
        return c.isEmpty ? start..<start : start..<videos(ofChunk: c.upperBound - 1).upperBound
    }

    /// The rank holding global video `video` (in 0..<videoCount).
    public func owner(ofVideo video: Int) -> Int {
        let chunk = video / chunkSize
        // chunks(of:) starts are non-decreasing in the rank: the owner is the last rank whose
        // run of chunks starts at or before `chunk` and is not empty.
        var low = 0, high = ranks - 1
        while low < high {
            let mid = (low + high + 1) / 2
            if chunks(of: mid).lowerBound <= chunk { low = mid } else { high = mid - 1 }
        }
        while low > 0 && chunks(of: low).isEmpty { low -= 1 }
        return low
    }
}
