import Synchronization
import TensorKit
#if canImport(Glibc)
import Glibc
#endif

/// Model input sizes the loader needs (the configuration's `map_size`, `max_ctx_l`,
/// `max_desc_l`).
public struct LoaderOptions: Sendable, Equatable {
    public var mapSize: Int
    public var maxContextLength: Int
    public var maxDescriptionLength: Int

    public init(mapSize: Int = 32, maxContextLength: Int = 128, maxDescriptionLength: Int = 30) {
        self.mapSize = mapSize
        self.maxContextLength = maxContextLength
        self.maxDescriptionLength = maxDescriptionLength
    }
}

/// Turns a rank's list of videos (chosen by the sampler, DISTRIBUTED.md §1) into model inputs:
/// reads only their stored features through a `FeatureSource` and preprocesses them exactly as
/// the reference (`FeaturePreprocessing`). Stored values are checked for NaN and ±Inf on load;
/// one is an error naming the file and the frame or caption.
///
/// One load at a time per loader (the prefetcher runs them one after another on its thread):
/// the loader keeps its read and scratch buffers between loads.
// @unchecked Sendable: one load at a time (the prefetcher's serial queue) owns the read buffers;
// the statistics are shared through a Mutex.
public final class SplitLoader: InputLoader, @unchecked Sendable {
    public let source: any FeatureSource
    public let options: LoaderOptions
    /// Read from the training thread while the prefetch thread loads.
    private let _statistics = Mutex(LoaderStatistics())
    /// Stored frames of the current load, kept between loads (loads are sequential) so that
    /// large batches do not fault in fresh pages every time.
    private var rawFrames = FloatStorage(count: 1)
    private let scratch: UnsafeMutablePointer<Double>

    deinit {
        scratch.deallocate()
    }

    public init(source: any FeatureSource, options: LoaderOptions) throws {
        guard options.mapSize >= 1, options.maxContextLength >= 1, options.maxDescriptionLength >= 1 else {
            throw FeatureDataError(file: source.index.source, "map_size, max_ctx_l and max_desc_l must be ≥ 1 (got \(options.mapSize), \(options.maxContextLength), \(options.maxDescriptionLength))")
        }
        self.source = source
        self.options = options
        scratch = .allocate(capacity: max(options.mapSize, options.maxContextLength) * source.index.visualDimension)
    }

    /// The stored-frames buffer, grown to `count` floats (a failed allocation is an error).
    private func rawBuffer(_ count: Int) throws -> UnsafeMutablePointer<Float> {
        if count > rawFrames.count {
            rawFrames = FloatStorage(count: 1)  // release the old buffer first
            rawFrames = try FloatStorage(allocating: count, for: "the stored frames of a batch")
        }
        return rawFrames.base
    }

    public var index: SplitIndex { source.index }

    /// Bytes and seconds of every load so far.
    public var statistics: LoaderStatistics { _statistics.withLock { $0 } }

    private func record(bytes: Int, read: Double, preprocess: Double) {
        _statistics.withLock {
            $0.loads += 1
            $0.bytesRead += bytes
            $0.readSeconds += read
            $0.preprocessSeconds += preprocess
        }
    }

    /// Clip and frame inputs of `videos` (split video indices; any order, repeats allowed).
    public func loadVideos(_ videos: [Int]) throws -> VideoInputs {
        let index = source.index
        let d = index.visualDimension
        for v in videos where v < 0 || v >= index.videoCount {
            throw FeatureDataError(file: index.source, item: "video #\(v)", "video index outside 0..<\(index.videoCount) of split '\(index.split)'")
        }
        let counts = videos.map { index.frameCounts[$0] }
        let totalRaw = counts.reduce(0, +)
        let raw = try rawBuffer(max(totalRaw * d, 1))
        let t0 = MonotonicClock.now()
        let bytes = try source.readFrames(of: videos, into: raw)
        let t1 = MonotonicClock.now()

        let m = options.mapSize, maxContext = options.maxContextLength
        let lengths = counts.map { FeaturePreprocessing.frameInputRows(frameCount: $0, maxContextLength: maxContext) }
        var offsets = [0]
        for n in lengths { offsets.append(offsets[offsets.count - 1] + n) }
        let clip = try FloatStorage(allocating: videos.count * m * d, for: "the clip inputs of \(videos.count) videos")
        let frames = try FloatStorage(allocating: offsets[videos.count] * d, for: "the frame inputs of \(videos.count) videos")
        var rawOffset = 0
        for (i, v) in videos.enumerated() {
            let t = counts[i]
            let stored = raw + rawOffset * d
            if let bad = FeaturePreprocessing.firstNonFinite(stored, count: t * d) {
                let location = source.locate(frame: bad / d, ofVideo: v)
                throw FeatureDataError(file: location.file, item: location.item,
                                       "\(stored[bad]) in column \(bad % d) (features must be finite; checked on load)")
            }
            FeaturePreprocessing.clipInput(stored, frameCount: t, dimension: d, mapSize: m, scratch: scratch,
                                           into: clip.base + i * m * d)
            FeaturePreprocessing.frameInput(stored, frameCount: t, dimension: d, maxContextLength: maxContext, scratch: scratch,
                                            into: frames.base + offsets[i] * d)
            rawOffset += t
        }
        let t2 = MonotonicClock.now()
        record(bytes: bytes, read: t1 - t0, preprocess: t2 - t1)
        return VideoInputs(videos: videos, visualDimension: d, mapSize: m, clip: clip, frames: frames, frameLengths: lengths,
                           frameOffsets: offsets, storedFrameCounts: counts)
    }

    /// Token inputs of `queries` (split caption indices; any order).
    public func loadQueries(_ queries: [Int]) throws -> QueryInputs {
        let index = source.index
        let d = index.queryDimension
        for q in queries where q < 0 || q >= index.captionCount {
            throw FeatureDataError(file: index.source, item: "caption #\(q)", "caption index outside 0..<\(index.captionCount) of split '\(index.split)'")
        }
        let t0 = MonotonicClock.now()
        let (raw, bytes) = try source.readQueries(queries)
        let t1 = MonotonicClock.now()
        let maxTokens = options.maxDescriptionLength
        let lengths = raw.map { min($0.tokenCount, maxTokens) }
        var offsets = [0]
        for n in lengths { offsets.append(offsets[offsets.count - 1] + n) }
        let tokens = try FloatStorage(allocating: offsets[queries.count] * d, for: "the token inputs of \(queries.count) queries")
        for (i, query) in raw.enumerated() {
            let output = tokens.base + offsets[i] * d
            let bad: Int?
            switch query.values {
            case .float32(let values):
                bad = values.withUnsafeBufferPointer { p -> Int? in
                    guard let base = p.baseAddress, p.count >= query.tokenCount * d else { return nil }
                    guard let bad = FeaturePreprocessing.firstNonFinite(base, count: p.count) else {
                        FeaturePreprocessing.queryInput(base, tokenCount: query.tokenCount, dimension: d,
                                                        maxDescriptionLength: maxTokens, into: output)
                        return nil
                    }
                    return bad
                }
                if let bad { try nonFinite(query: queries[i], index: bad, value: Double(values[bad]), dimension: d) }
            case .float64(let values):
                bad = values.withUnsafeBufferPointer { p -> Int? in
                    guard let base = p.baseAddress, p.count >= query.tokenCount * d else { return nil }
                    guard let bad = FeaturePreprocessing.firstNonFinite(base, count: p.count) else {
                        FeaturePreprocessing.queryInput(base, tokenCount: query.tokenCount, dimension: d,
                                                        maxDescriptionLength: maxTokens, into: output)
                        return nil
                    }
                    return bad
                }
                if let bad { try nonFinite(query: queries[i], index: bad, value: values[bad], dimension: d) }
            }
        }
        let t2 = MonotonicClock.now()
        record(bytes: bytes, read: t1 - t0, preprocess: t2 - t1)
        return QueryInputs(queries: queries, queryDimension: d, tokens: tokens, tokenLengths: lengths, tokenOffsets: offsets)
    }

    private func nonFinite(query: Int, index bad: Int, value: Double, dimension d: Int) throws {
        let location = source.locate(query: query)
        throw FeatureDataError(file: location.file, item: location.item,
                               "\(value) in token \(bad / d), column \(bad % d) (features must be finite; checked on load)")
    }

    /// `videos` and all their captions (video order, then caption-file order): one rank's part
    /// of a training batch.
    public func loadBatch(videos: [Int]) throws -> TrainingBatch {
        let index = source.index
        let videoInputs = try loadVideos(videos)  // checks the video indices first
        var queries: [Int] = []
        var positions: [Int] = []
        for (position, v) in videos.enumerated() {
            for q in index.captions(ofVideo: v) {
                queries.append(q)
                positions.append(position)
            }
        }
        return TrainingBatch(videos: videoInputs, queries: try loadQueries(queries), queryVideoPosition: positions)
    }
}
