/// A batch of variable-length sequences packed row by row with no padding rows: sequence s
/// occupies rows `offsets[s] ..< offsets[s] + lengths[s]` of every (rows × features) buffer.
///
/// Why packed: every layer of the model is row-wise except attention and the Mamba scan, and
/// padded rows never influence valid ones (keys are masked to exactly zero weight, the Mamba is
/// causal with padding at the end, pooling is masked) — so computing them would be pure waste.
/// What padding *does* change is kept as a number: `paddedLength`, the length the reference pads
/// the batch to, from which the Gaussian multiplier G is computed (MODEL.md §1).
public struct SequenceBatch: Sendable, Equatable {
    /// Valid length of each sequence (≥ 1).
    public let lengths: [Int]
    /// First row of each sequence in the packed buffers.
    public let offsets: [Int]
    /// Position of each sequence in the global batch (keys its random draws, DISTRIBUTED.md §2).
    public let globalIndices: [Int]
    /// The length the reference would pad every sequence to (≥ every length).
    public let paddedLength: Int

    public init(lengths: [Int], globalIndices: [Int]? = nil, paddedLength: Int? = nil) {
        precondition(lengths.allSatisfy { $0 >= 1 }, "every sequence needs at least one row")
        self.lengths = lengths
        var offsets: [Int] = []
        offsets.reserveCapacity(lengths.count)
        var total = 0
        for n in lengths {
            offsets.append(total)
            total += n
        }
        self.offsets = offsets
        self.globalIndices = globalIndices ?? Array(0..<lengths.count)
        precondition(self.globalIndices.count == lengths.count, "one global index per sequence")
        let longest = lengths.max() ?? 0
        self.paddedLength = paddedLength ?? longest
        precondition(self.paddedLength >= longest, "padded length \(self.paddedLength) shorter than a sequence (\(longest))")
    }

    public var count: Int { lengths.count }
    /// Total valid rows.
    public var rows: Int { (offsets.last ?? 0) + (lengths.last ?? 0) }
    public var longest: Int { lengths.max() ?? 0 }
}
