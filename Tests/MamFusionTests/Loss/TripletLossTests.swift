import Testing
import TestSupport
@testable import MamFusion

struct TripletLossTests {
    static let margin: Float = 0.2

    static func run(_ p: LossProblem, sampling: TripletSampling, branch: SimilarityBranch = .clip) -> TripletLoss.Result {
        p.scores.withUnsafeBufferPointer {
            TripletLoss.forward(scores: $0.baseAddress!, labels: p.labels, margin: margin, sampling: sampling, branch: branch)
        }
    }

    @Test("Triplet forward and negatives match a brute-force evaluation, before and after the hard epoch",
          arguments: [(31, false), (32, false), (33, true), (34, true)] as [(UInt64, Bool)])
    func forwardMatchesReference(seed: UInt64, hard: Bool) throws {
        let p = try LossProblem(seed: seed, queriesPerVideo: LossProblem.randomCounts(seed: seed, videos: 5, maxQueries: 4))
        for branch in SimilarityBranch.allCases {
            let sampling = TripletSampling(seed: 9527, step: 17, useHardNegatives: hard, hardPoolSize: 2)
            let result = Self.run(p, sampling: sampling, branch: branch)
            let reference = ReferenceLoss.triplet(p, margin: Double(Self.margin), sampling: sampling, branch: branch)
            #expect(result.selection.textToVideoNegative.map(Int.init) == reference.t2vNegative)
            #expect(result.selection.videoToTextNegative.map(Int.init) == reference.v2tNegative)
            #expect(relativeDifference(result.textToVideo, reference.t2v) < 1e-5)
            #expect(relativeDifference(result.videoToText, reference.v2t) < 1e-5)
            #expect(relativeDifference(result.value, reference.t2v + reference.v2t) < 1e-5)
        }
    }

    @Test("Triplet backward matches finite differences with the selection held fixed",
          arguments: [(41, false), (42, true), (43, false), (44, true)] as [(UInt64, Bool)])
    func gradientCheck(seed: UInt64, hard: Bool) throws {
        var p = try LossProblem(seed: seed, queriesPerVideo: LossProblem.randomCounts(seed: seed, videos: 5, maxQueries: 4))
        let sampling = TripletSampling(seed: 1, step: UInt32(seed), useHardNegatives: hard, hardPoolSize: 3)
        // A margin that keeps every hinge well away from 0 on this grid of scores.
        let margin: Float = 0.2137
        let labels = p.labels
        let forward = { (s: UnsafePointer<Float>) in
            TripletLoss.forward(scores: s, labels: labels, margin: margin, sampling: sampling, branch: .frame)
        }
        let result = p.scores.withUnsafeBufferPointer { forward($0.baseAddress!) }
        let hinges = result.selection.textToVideoHinge + result.selection.videoToTextHinge
        try #require(hinges.allSatisfy { abs($0) > 5e-3 }, "fixture: a hinge sits too close to 0 for finite differences")
        try #require(hinges.contains { $0 > 0 }, "fixture: no active hinge, the check would be vacuous")

        let upstream: Float = 1.3
        var grad = [Float](repeating: -0.5, count: p.scores.count)
        let before = grad
        grad.withUnsafeMutableBufferPointer {
            TripletLoss.backward(selection: result.selection, labels: labels, upstream: upstream, dScores: $0.baseAddress!)
        }
        let gradient = zip(grad, before).map { $0 - $1 }
        var selectionHeld = true
        let error = p.scores.withUnsafeMutableBufferPointer { s in
            gradient.withUnsafeBufferPointer { g in
                GradientCheck.maxRelativeError(parameters: [s], gradients: [g], directions: 4, epsilon: 1e-3) {
                    let r = forward(UnsafePointer(s.baseAddress!))
                    if r.selection.textToVideoNegative != result.selection.textToVideoNegative
                        || r.selection.videoToTextNegative != result.selection.videoToTextNegative { selectionHeld = false }
                    return Double(upstream) * r.value
                }
            }
        }
        print("Triplet gradient check, seed \(seed) hard \(hard): max relative error \(error)")
        #expect(selectionHeld)
        #expect(error < 1e-2)
    }

    @Test("Hard negatives: t2v draws only from the top hard_pool_size, v2t takes the maximum")
    func hardNegatives() throws {
        let p = try LossProblem(seed: 51, queriesPerVideo: LossProblem.randomCounts(seed: 51, videos: 12, maxQueries: 4))
        for pool in [1, 3, 20] {
            for step in 0 ..< 5 {
                let sampling = TripletSampling(seed: 9, step: UInt32(step), useHardNegatives: true, hardPoolSize: pool)
                let s = Self.run(p, sampling: sampling).selection
                for q in 0 ..< p.queries {
                    let y = Int(p.labels.queryVideo[q]), neg = Int(s.textToVideoNegative[q])
                    #expect(neg != y)
                    let better = (0 ..< p.videos).filter { $0 != y && p.score(q, $0) > p.score(q, neg) }.count
                    #expect(better < pool)
                }
                for v in 0 ..< p.videos {
                    let neg = Int(s.videoToTextNegative[v])
                    let others = (0 ..< p.queries).filter { Int(p.labels.queryVideo[$0]) != v }
                    #expect(others.contains(neg))
                    #expect(p.score(neg, v) == others.map { p.score($0, v) }.max())
                }
            }
        }
    }

    @Test("Ties rank the lower index first: t2v with pool 1 and v2t pick the lowest tied index")
    func tieBreaking() throws {
        var p = try LossProblem(seed: 52, queriesPerVideo: [1, 2, 1, 1])
        for k in p.scores.indices { p.scores[k] = 0.5 }
        let s = Self.run(p, sampling: TripletSampling(seed: 1, step: 1, useHardNegatives: true, hardPoolSize: 1)).selection
        #expect(s.textToVideoNegative == [1, 0, 0, 0, 0])
        #expect(s.videoToTextNegative == [1, 0, 0, 0])
    }

    @Test("The epoch switch is the reference's epoch >= hard_negative_start_epoch")
    func epochSwitch() {
        #expect(!TripletSampling(seed: 1, step: 5, epoch: 19, hardNegativeStartEpoch: 20, hardPoolSize: 20).useHardNegatives)
        #expect(TripletSampling(seed: 1, step: 5, epoch: 20, hardNegativeStartEpoch: 20, hardPoolSize: 20).useHardNegatives)
    }

    @Test("Draws are keyed by (seed, step, item, term): repeatable, step- and term-dependent")
    func keying() throws {
        let p = try LossProblem(seed: 61, queriesPerVideo: LossProblem.randomCounts(seed: 61, videos: 16, maxQueries: 4))
        for hard in [false, true] {
            let a = TripletSampling(seed: 9527, step: 100, useHardNegatives: hard, hardPoolSize: 8)
            var b = a
            b.step = 101
            #expect(Self.run(p, sampling: a).selection == Self.run(p, sampling: a).selection)
            #expect(Self.run(p, sampling: a).selection.textToVideoNegative != Self.run(p, sampling: b).selection.textToVideoNegative)
            // Clip and frame terms draw different numbers from the same streams.
            #expect(Self.run(p, sampling: a, branch: .clip).selection.textToVideoNegative
                    != Self.run(p, sampling: a, branch: .frame).selection.textToVideoNegative)
            var c = a
            c.seed = 1
            #expect(Self.run(p, sampling: a).selection.textToVideoNegative != Self.run(p, sampling: c).selection.textToVideoNegative)
        }
        let random = TripletSampling(seed: 9527, step: 100, useHardNegatives: false, hardPoolSize: 8)
        var other = random
        other.step = 101
        #expect(Self.run(p, sampling: random).selection.videoToTextNegative
                != Self.run(p, sampling: other).selection.videoToTextNegative)
    }

    @Test("A block of rows or columns with its global indices makes the same draws as the whole batch")
    func blocksMatchWholeBatch() throws {
        let p = try LossProblem(seed: 71, queriesPerVideo: LossProblem.randomCounts(seed: 71, videos: 9, maxQueries: 4))
        for hard in [false, true] {
            let sampling = TripletSampling(seed: 4, step: 12, useHardNegatives: hard, hardPoolSize: 3)
            let whole = Self.run(p, sampling: sampling, branch: .frame).selection
            // Rows 3..<9 of S, as a rank that holds only those queries would see them.
            let rows = 3 ..< 9
            var negative = [Int32](repeating: 0, count: rows.count)
            var hinge = [Float](repeating: 0, count: rows.count)
            let block = Array(p.scores[rows.lowerBound * p.videos ..< rows.upperBound * p.videos])
            let y = Array(p.labels.queryVideo[rows])
            TripletLoss.selectTextToVideo(scores: block, queries: rows.count, videos: p.videos, queryVideo: y,
                                          firstQuery: rows.lowerBound, margin: Self.margin, sampling: sampling,
                                          term: .frameTextToVideo, negative: &negative, hinge: &hinge)
            #expect(negative == Array(whole.textToVideoNegative[rows]))
            #expect(hinge == Array(whole.textToVideoHinge[rows]))
            // Columns 2..<6 of S for all queries, as a rank that holds only those videos would see them.
            let columns = 2 ..< 6
            var columnBlock: [Float] = []
            for q in 0 ..< p.queries { columnBlock += p.scores[q * p.videos + columns.lowerBound ..< q * p.videos + columns.upperBound] }
            var vNegative = [Int32](repeating: 0, count: columns.count)
            var vHinge = [Float](repeating: 0, count: columns.count)
            TripletLoss.selectVideoToText(scores: columnBlock, columns: columns.count, videos: columns.map(Int32.init),
                                          labels: p.labels, margin: Self.margin, sampling: sampling,
                                          term: .frameVideoToText, negative: &vNegative, hinge: &vHinge)
            #expect(vNegative == Array(whole.videoToTextNegative[columns]))
            #expect(vHinge == Array(whole.videoToTextHinge[columns]))
        }
    }

    @Test("One video: no negatives, both triplet terms are 0 and pass no gradient")
    func oneVideo() throws {
        for counts in [[1], [4]] {
            let p = try LossProblem(seed: 81, queriesPerVideo: counts)
            for hard in [false, true] {
                let r = Self.run(p, sampling: TripletSampling(seed: 1, step: 1, useHardNegatives: hard, hardPoolSize: 20))
                #expect(r.value == 0)
                #expect(r.selection.textToVideoNegative.allSatisfy { $0 == -1 })
                #expect(r.selection.videoToTextNegative == [-1])
                var grad = [Float](repeating: 0, count: p.scores.count)
                TripletLoss.backward(selection: r.selection, labels: p.labels, upstream: 1, dScores: &grad)
                #expect(grad.allSatisfy { $0 == 0 })
            }
        }
    }

    @Test("Two videos with one query each, and extreme scores, stay finite and exact")
    func smallAndExtreme() throws {
        var p = try LossProblem(seed: 82, queriesPerVideo: [1, 1, 3])
        for k in p.scores.indices { p.scores[k] = k % 2 == 0 ? 1e4 : -1e4 }
        for hard in [false, true] {
            let sampling = TripletSampling(seed: 2, step: 3, useHardNegatives: hard, hardPoolSize: 1)
            let r = Self.run(p, sampling: sampling)
            let reference = ReferenceLoss.triplet(p, margin: Double(Self.margin), sampling: sampling, branch: .clip)
            #expect(r.value.isFinite)
            #expect(relativeDifference(r.value, reference.t2v + reference.v2t) < 1e-6)
        }
    }
}
