import Testing
import TestSupport
@testable import MamFusion

struct NCELossTests {
    @Test("NCE forward matches a brute-force Double evaluation", arguments: [11, 12, 13] as [UInt64])
    func forwardMatchesReference(seed: UInt64) throws {
        let p = try LossProblem(seed: seed, queriesPerVideo: LossProblem.randomCounts(seed: seed, videos: 5, maxQueries: 4),
                                scale: 3)
        let result = p.scores.withUnsafeBufferPointer { NCELoss.forward(scores: $0.baseAddress!, labels: p.labels) }
        let reference = ReferenceLoss.nce(p)
        #expect(relativeDifference(result.textToVideo, reference.t2v) < 1e-5)
        #expect(relativeDifference(result.videoToText, reference.v2t) < 1e-5)
        #expect(relativeDifference(result.value, reference.t2v + reference.v2t) < 1e-5)
    }

    @Test("NCE backward matches finite differences", arguments: [21, 22] as [UInt64])
    func gradientCheck(seed: UInt64) throws {
        var p = try LossProblem(seed: seed, queriesPerVideo: LossProblem.randomCounts(seed: seed, videos: 5, maxQueries: 4),
                                scale: 2)
        let upstream: Float = 0.7
        var grad = [Float](repeating: 0.25, count: p.scores.count)  // non-zero: backward must accumulate
        let before = grad
        p.scores.withUnsafeBufferPointer { s in
            let r = NCELoss.forward(scores: s.baseAddress!, labels: p.labels)
            grad.withUnsafeMutableBufferPointer {
                NCELoss.backward(scores: s.baseAddress!, labels: p.labels, result: r, upstream: upstream, dScores: $0.baseAddress!)
            }
        }
        let gradient = zip(grad, before).map { $0 - $1 }
        let labels = p.labels
        let error = p.scores.withUnsafeMutableBufferPointer { s in
            gradient.withUnsafeBufferPointer { g in
                GradientCheck.maxRelativeError(parameters: [s], gradients: [g], directions: 4, epsilon: 1e-2) {
                    Double(upstream) * NCELoss.forward(scores: UnsafePointer(s.baseAddress!), labels: labels).value
                }
            }
        }
        print("NCE gradient check, seed \(seed): max relative error \(error)")
        #expect(error < 1e-2)
    }

    @Test("Each NCE row sums to zero gradient in t2v and each column in v2t")
    func gradientSumsToZero() throws {
        let p = try LossProblem(seed: 5, queriesPerVideo: [3, 1, 2, 4])
        var grad = [Float](repeating: 0, count: p.scores.count)
        p.scores.withUnsafeBufferPointer { s in
            let r = NCELoss.forward(scores: s.baseAddress!, labels: p.labels)
            grad.withUnsafeMutableBufferPointer {
                NCELoss.backward(scores: s.baseAddress!, labels: p.labels, result: r, upstream: 1, dScores: $0.baseAddress!)
            }
        }
        // Adding a constant to all scores changes nothing: the gradient sums to zero.
        #expect(abs(grad.reduce(0, +)) < 1e-5)
    }

    @Test("Extreme scores (±50 and beyond) give a finite NCE and gradient that match Double")
    func extremeScores() throws {
        var p = try LossProblem(seed: 7, queriesPerVideo: [2, 3, 1])
        for k in p.scores.indices { p.scores[k] = k % 3 == 0 ? 50 : (k % 3 == 1 ? -50 : 88) }
        var grad = [Float](repeating: 0, count: p.scores.count)
        let result = p.scores.withUnsafeBufferPointer { s in
            let r = NCELoss.forward(scores: s.baseAddress!, labels: p.labels)
            grad.withUnsafeMutableBufferPointer {
                NCELoss.backward(scores: s.baseAddress!, labels: p.labels, result: r, upstream: 1, dScores: $0.baseAddress!)
            }
            return r
        }
        let reference = ReferenceLoss.nce(p)
        #expect(result.value.isFinite && grad.allSatisfy { $0.isFinite })
        #expect(relativeDifference(result.value, reference.t2v + reference.v2t) < 1e-5)
    }

    @Test("One video, one query: NCE is 0 with zero gradient")
    func degenerateBatches() throws {
        for counts in [[1], [3]] {
            let p = try LossProblem(seed: 3, queriesPerVideo: counts, scale: 40)
            var grad = [Float](repeating: 0, count: p.scores.count)
            let r = p.scores.withUnsafeBufferPointer { s in
                let r = NCELoss.forward(scores: s.baseAddress!, labels: p.labels)
                grad.withUnsafeMutableBufferPointer {
                    NCELoss.backward(scores: s.baseAddress!, labels: p.labels, result: r, upstream: 1, dScores: $0.baseAddress!)
                }
                return r
            }
            // With one video every row's logsumexp is its positive, and every column's all-query
            // logsumexp is its positive logsumexp.
            #expect(abs(r.value) < 1e-5)
            #expect(grad.allSatisfy { abs($0) < 1e-6 })
        }
    }
}
