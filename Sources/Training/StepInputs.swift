import FeatureData

/// The inputs of the training steps to come, loaded micro-batch by micro-batch in exactly the
/// order the steps take them (`MicroBatch.loadOrder`, step after step), with the next load always
/// running in the background while the current micro-batch computes. A rank then holds the inputs
/// of at most three micro-batches (the one computing, the last of pass 1 kept for pass 2, the one
/// loading) instead of its whole share and the next one — with `micro_batch` 0 (one micro-batch
/// per step) it is the usual next-batch prefetch.
final class StepInputs {
    /// One load: dataset videos and, for the check, their dataset captions in order.
    struct Load: Sendable {
        let videos: [Int]
        let queries: [Int]
    }

    private let loader: SplitLoader
    private let prefetcher = BatchPrefetcher<TrainingBatch>()
    private var planned: [Load] = [], started: [Load] = []

    init(loader: SplitLoader) { self.loader = loader }

    /// Appends the loads of one step: this rank's share of `batch`, cut by `microBatch`.
    func plan(batch: GlobalBatch, assignment: RankAssignment, rank: Int, microBatch: Int) {
        let videos = assignment.videosOfRank[rank], queries = assignment.queriesOfRank[rank]
        let micro = MicroBatch.partition(batch: batch, assignment: assignment, rank: rank, size: microBatch)
        planned += MicroBatch.loadOrder(micro).map { m in
            Load(videos: videos[m.videos].map { batch.videos[$0] }, queries: queries[m.queries].map { batch.queries[$0] })
        }
        startNext()
    }

    /// The next planned load's inputs (waiting for it), after which the following one starts.
    func next() throws -> TrainingBatch {
        startNext()
        let expected = started.removeFirst()
        let batch = try prefetcher.next()
        startNext()
        guard batch.videos.videos == expected.videos, batch.queries.queries == expected.queries else {
            throw FeatureDataError(file: loader.index.source, "the loaded inputs are not the planned micro-batch (loader and global batch disagree on caption order)")
        }
        return batch
    }

    /// Keeps one load running ahead of the one being used.
    private func startNext() {
        guard started.isEmpty, !planned.isEmpty else { return }
        let load = planned.removeFirst()
        started.append(load)
        let loader = self.loader
        prefetcher.prefetch { try loader.loadBatch(videos: load.videos) }
    }
}
