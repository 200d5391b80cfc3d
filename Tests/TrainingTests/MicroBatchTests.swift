import MamFusion
import TestSupport
import Testing
@testable import Training

/// DISTRIBUTED.md §3b: any `micro_batch` gives the step of the whole share (up to summation
/// order) — on 1 and 2 ranks, random and hard negatives, dropout on — and a run can resume with a
/// different `micro_batch` on a different number of ranks and continue the same trajectory.
@Suite(.serialized)
struct MicroBatchTests {
    typealias Equivalence = DistributedEquivalenceTests

    @Test("micro_batch 1, 3 and the whole share give the same parameters after 5 steps, on 1 and 2 ranks",
          arguments: [Equivalence.Regime.random, .hardest])
    func microBatchesAgree(regime: Equivalence.Regime) throws {
        let base = regime.data
        let reference = "\(base)/micro-\(regime.rawValue)-1-0"
        try Equivalence.train(ranks: 1, output: reference, steps: 5, data: base, extra: regime.overrides)
        let expected = try Equivalence.parameters(reference, data: base, extra: regime.overrides)
        for ranks in [1, 2] {
            for micro in [1, 3, 0] where !(ranks == 1 && micro == 0) {
                let output = "\(base)/micro-\(regime.rawValue)-\(ranks)-\(micro)"
                let extra = regime.overrides + ["micro_batch=\(micro)"]
                try Equivalence.train(ranks: ranks, output: output, steps: 5, data: base, extra: extra)
                let difference = Equivalence.largestRelativeDifference(expected, try Equivalence.parameters(output, data: base, extra: extra))
                print("\(regime): micro_batch \(micro) on \(ranks) rank(s) vs the whole share on 1 rank: \(difference)")
                #expect(difference < 1e-5, "\(regime), micro_batch \(micro), \(ranks) ranks: \(difference)")
            }
        }
    }

    @Test("GMMFormer: micro_batch 1 on 2 ranks gives the parameters of the whole share on 1 rank")
    func gmmFormerMicroBatches() throws {
        let base = Equivalence.data, overrides = Equivalence.Regime.hardest.overrides + ["model=gmmformer"]
        try Equivalence.train(ranks: 1, output: "\(base)/micro-gmmformer-whole", steps: 5, data: base, extra: overrides)
        try Equivalence.train(ranks: 2, output: "\(base)/micro-gmmformer-1", steps: 5, data: base, extra: overrides + ["micro_batch=1"])
        let expected = try Equivalence.parameters("\(base)/micro-gmmformer-whole", data: base, extra: overrides)
        let difference = Equivalence.largestRelativeDifference(expected, try Equivalence.parameters("\(base)/micro-gmmformer-1", data: base, extra: overrides))
        print("gmmformer: micro_batch 1 on 2 ranks vs the whole share on 1 rank: \(difference)")
        #expect(expected.layout.model == GMMFormerModel.name && difference < 1e-5, "\(difference)")
    }

    @Test("resuming with another micro_batch on another number of ranks continues the same trajectory")
    func resumeWithOtherMicroBatch() throws {
        let base = Equivalence.data, regime = Equivalence.Regime.hardest
        try Equivalence.train(ranks: 1, output: "\(base)/micro-straight", steps: 6, data: base, extra: regime.overrides)
        try Equivalence.train(ranks: 1, output: "\(base)/micro-resumed", steps: 3, data: base, extra: regime.overrides)
        try Equivalence.train(ranks: 2, output: "\(base)/micro-resumed", steps: 3, resume: true, data: base,
                              extra: regime.overrides + ["micro_batch=1"])
        let difference = Equivalence.largestRelativeDifference(try Equivalence.parameters("\(base)/micro-straight", data: base, extra: regime.overrides),
                                                               try Equivalence.parameters("\(base)/micro-resumed", data: base, extra: regime.overrides))
        print("1 rank × 3 steps, then 2 ranks with micro_batch 1 × 3 steps, vs 6 steps on 1 rank: \(difference)")
        #expect(difference < 1e-5)
    }
}
