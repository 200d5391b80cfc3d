import HDF5Kit
import InputFiles

/// One split of a CLIP token file: its (video, caption) pairs, its distinct videos, and the reads
/// a rank makes for its shard. Each read moves one hyperslab per run of consecutive frames (a
/// video, or several stored next to each other) and widens float16 to float32 on the way.
///
/// On a parallel file with `.collective` transfers every rank must call `readVideos` and
/// `readCaptions` together (a rank with nothing to read passes an empty list); the ranks first
/// agree on the number of hyperslab rounds with one small all-reduce on the file's communicator.
/// `.independent` transfers (the default) need no coordination.
public final class CLIPTokenSplit: Sendable {
    public let collection: CLIPTokenCollection
    public let name: String
    /// The caption (an index into the file's captions) of each pair, in split order.
    public let pairCaptions: [Int]
    /// The split's distinct videos (indices into the file's videos), in order of first appearance.
    public let videos: [Int]
    /// For each pair, the position of its video in `videos`.
    public let pairVideo: [Int]
    public let transfer: HDF5Transfer

    init(collection: CLIPTokenCollection, name: String, captions: [Int], transfer: HDF5Transfer) {
        self.collection = collection
        self.name = name
        self.pairCaptions = captions
        (videos, pairVideo) = SplitIndex.firstAppearance(captions.map { collection.captionVideo[$0] })
        self.transfer = transfer
    }

    public var pairCount: Int { pairCaptions.count }
    public var videoCount: Int { videos.count }
    /// Real frames of split video `position`.
    public func frameCount(ofVideo position: Int) -> Int { collection.frameCount(ofVideo: videos[position]) }
    public func videoID(_ position: Int) -> String { collection.videoIDs[videos[position]] }
    public func captionID(ofPair pair: Int) -> String { collection.captionIDs[pairCaptions[pair]] }
    public func captionText(ofPair pair: Int) -> String { collection.captionTexts[pairCaptions[pair]] }

    /// Reads split videos `positions` (repeats allowed, read once) into `output`: video i fills
    /// `output[i·T·N·W ..< (i+1)·T·N·W]` as [T, N, W] float32 — its T_v real frames, then T − T_v
    /// copies of the padding frame. Returns the bytes read from disk. A non-finite stored value is
    /// an error naming the file, the video and the frame.
    public func readVideos(_ positions: [Int], into output: UnsafeMutablePointer<Float>) throws -> Int {
        let c = collection
        let frameFloats = c.tokensPerFrame * c.width
        let (distinct, slot) = SplitIndex.firstAppearance(positions.map { videos[$0] })
        let ranges = distinct.map { c.videoOffsets[$0]..<c.videoOffsets[$0 + 1] }
        let rows = ranges.reduce(0) { $0 + $1.count }
        let staged = try c.readFloats(.tokens, rows: ranges, transfer: transfer)
        var start = [Int](repeating: 0, count: distinct.count)
        for i in 1..<max(1, distinct.count) { start[i] = start[i - 1] + ranges[i - 1].count }
        if let bad = FeaturePreprocessing.firstNonFinite(staged.base, count: rows * frameFloats) {
            let frame = bad / frameFloats
            let s = start.lastIndex { $0 <= frame } ?? 0
            throw FeatureDataError(file: c.path, item: "video \(Excerpt.quote(c.videoIDs[distinct[s]])) frame \(frame - start[s]) token \(bad % frameFloats / c.width)",
                                   "non-finite value \(staged.base[bad]) in /\(CLIPTokenFormat.tokens)")
        }
        c.paddingFrame.withUnsafeBufferPointer { padding in
            for (i, s) in slot.enumerated() {
                let target = output + i * c.videoFloats
                let real = ranges[s].count
                target.update(from: staged.base + start[s] * frameFloats, count: real * frameFloats)
                for f in real..<c.maxFrames { (target + f * frameFloats).update(from: padding.baseAddress!, count: frameFloats) }
            }
        }
        return rows * frameFloats * c.tokens.elementType.size
    }

    /// Reads the caption embeddings of `pairs` (split pair indices) into `output`, W floats each,
    /// in that order. Returns the bytes read from disk; a non-finite value is an error naming the caption.
    public func readCaptions(_ pairs: [Int], into output: UnsafeMutablePointer<Float>) throws -> Int {
        let c = collection
        let (distinct, slot) = SplitIndex.firstAppearance(pairs.map { pairCaptions[$0] })
        let staged = try c.readFloats(.embeddings, rows: distinct.map { $0..<$0 + 1 }, transfer: transfer)
        if let bad = FeaturePreprocessing.firstNonFinite(staged.base, count: distinct.count * c.width) {
            throw FeatureDataError(file: c.path, item: "caption \(Excerpt.quote(c.captionIDs[distinct[bad / c.width]]))",
                                   "non-finite value \(staged.base[bad]) in /\(CLIPTokenFormat.captionEmbeddings)")
        }
        for (i, s) in slot.enumerated() { (output + i * c.width).update(from: staged.base + s * c.width, count: c.width) }
        return distinct.count * c.width * c.embeddings.elementType.size
    }
}
