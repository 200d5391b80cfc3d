import FeatureData
import MamFusion

/// The inputs of the training steps to come, loaded micro-batch by micro-batch in exactly the
/// order the steps take them (`StepPlan.loadOrder`, step after step), with the next load always
/// running in the background while the current micro-batch computes. A rank then holds the inputs
/// of at most three micro-batches (the one computing, the last of pass 1 kept for pass 2, the one
/// loading) instead of its whole share and the next one — with `micro_batch` 0 (one micro-batch
/// per step) it is the usual next-batch prefetch.
///
/// Loads are keyed by (step, micro-batch): what the plan says a micro-batch loads is what the
/// loader reads (`StepPlan.load`: its videos and exactly the plan's captions), and a step that
/// asks for another micro-batch than the next planned one is a programming error.
final class StepInputs {
    private struct Load {
        let step: Int
        let micro: MicroBatch
        let what: StepPlan.Load
    }

    private let loader: any InputLoader
    private let prefetcher = BatchPrefetcher<TrainingBatch>()
    private var planned: [Load] = [], started: [Load] = []

    init(loader: any InputLoader) { self.loader = loader }

    /// Appends the loads of one step's plan, in the order the step takes them.
    func plan(_ plan: StepPlan) {
        planned += plan.loadOrder.map { Load(step: plan.step, micro: $0, what: plan.load($0)) }
        startNext()
    }

    /// The inputs of micro-batch `m` of step `step` (waiting for them), after which the next
    /// planned load starts.
    func inputs(step: Int, _ m: MicroBatch) throws -> TrainingBatch {
        startNext()
        let expected = started.removeFirst()
        precondition(expected.step == step && expected.micro == m,
                     "step \(step) asked for micro-batch \(m.index), but the next planned load is micro-batch \(expected.micro.index) of step \(expected.step)")
        let batch = try prefetcher.next()
        startNext()
        return batch
    }

    /// Keeps one load running ahead of the one being used.
    private func startNext() {
        guard started.isEmpty, !planned.isEmpty else { return }
        let load = planned.removeFirst()
        started.append(load)
        let loader = self.loader, what = load.what
        prefetcher.prefetch { try loader.loadBatch(videos: what.videos, queries: what.queries, queryVideoPosition: what.queryVideoPosition) }
    }
}
