import TensorKit

/// What a model's training encoders hand its loss head, item by item: named slots, each a fixed
/// number of floats per **query** or per **video** of the batch (for the PRVR models: q and q2
/// per query, d floats each; the Mc·d clip embeddings C and the d-float frame vector F per
/// video). The step owns one buffer per slot (`EmbeddingBuffers`) holding this rank's own rows in
/// local order; the encoders write it micro-batch by micro-batch, the head reads it, and the
/// head's gradients come back in buffers of the same layout.
public struct EmbeddingLayout: Sendable {
    /// Whose rows a slot holds.
    public enum Side: Sendable { case query, video }

    /// One slot: its place in the layout, name (for messages), side and width in floats.
    public struct Slot: Sendable, Hashable {
        public let index: Int
        public let name: String
        public let side: Side
        public let width: Int
    }

    public private(set) var slots: [Slot] = []

    public init() {}

    /// Declares a slot of `width` floats per query or per video; returns its handle.
    public mutating func add(_ name: String, _ side: Side, width: Int) -> Slot {
        precondition(width >= 1, "embedding slot \(name) needs a positive width")
        let slot = Slot(index: slots.count, name: name, side: side, width: width)
        slots.append(slot)
        return slot
    }
}

/// The step's buffers of one `EmbeddingLayout`: this rank's own queries × width and own videos ×
/// width per slot, in local order (the rank's i-th query, j-th video). Reused from step to step
/// (`reserve` allocates only when a step is larger than any before).
public final class EmbeddingBuffers {
    public let layout: EmbeddingLayout
    private let buffers: [ActivationBuffer]
    /// Rows of the current step: own queries and own videos.
    public private(set) var queries = 0, videos = 0

    public init(_ layout: EmbeddingLayout) {
        self.layout = layout
        buffers = layout.slots.map { _ in ActivationBuffer() }
    }

    /// Room for `queries` and `videos` rows in every slot (contents unspecified).
    public func reserve(queries: Int, videos: Int) {
        self.queries = queries
        self.videos = videos
        for slot in layout.slots { buffers[slot.index].reserve(max(rows(slot) * slot.width, 1)) }
    }

    /// Rows of `slot` this step (own queries or own videos).
    public func rows(_ slot: EmbeddingLayout.Slot) -> Int { slot.side == .query ? queries : videos }

    /// The first float of `slot` (row r at `r · slot.width`).
    public func pointer(_ slot: EmbeddingLayout.Slot) -> UnsafeMutablePointer<Float> { buffers[slot.index].pointer }

    /// The rows of one micro-batch: its first own query and first own video.
    public func window(firstQuery: Int, firstVideo: Int) -> EmbeddingWindow {
        EmbeddingWindow(buffers: self, firstQuery: firstQuery, firstVideo: firstVideo)
    }

    /// The whole step's rows.
    public var all: EmbeddingWindow { window(firstQuery: 0, firstVideo: 0) }

    /// The first non-finite row, by slot in layout order: (slot, row) — videos row by row first,
    /// so a bad video is named before the queries it spoils through the loss.
    public func firstNonFinite() -> (slot: EmbeddingLayout.Slot, row: Int)? {
        for side in [EmbeddingLayout.Side.video, .query] {
            let slots = layout.slots.filter { $0.side == side }
            let count = side == .video ? videos : queries
            for row in 0..<count {
                for slot in slots where !Vector.sumOfSquares(pointer(slot) + row * slot.width, count: slot.width).isFinite {
                    return (slot, row)
                }
            }
        }
        return nil
    }

    /// Bytes held.
    public var bytes: Int { buffers.reduce(0) { $0 + $1.bytes } }
}

/// The rows of `EmbeddingBuffers` that one micro-batch writes (encode) or reads (backward): row
/// 0 of a query slot is the micro-batch's first query.
public struct EmbeddingWindow {
    public let buffers: EmbeddingBuffers
    public let firstQuery: Int, firstVideo: Int

    /// Row 0 of `slot` in this window.
    public func pointer(_ slot: EmbeddingLayout.Slot) -> UnsafeMutablePointer<Float> {
        buffers.pointer(slot) + (slot.side == .query ? firstQuery : firstVideo) * slot.width
    }
}
