import Testing
import TestSupport
@testable import MamFusion

struct QueryDiverseLossTests {
    static let alpha: Float = 32, delta: Float = 0.2

    static func value(_ p: LossProblem, alpha: Float = alpha, delta: Float = delta) -> Double {
        p.fused.withUnsafeBufferPointer {
            QueryDiverseLoss.forward(normalized: $0.baseAddress!, dimension: p.dimension, labels: p.labels,
                                     alpha: alpha, delta: delta)
        }
    }

    static func gradient(_ p: LossProblem, upstream: Float = 1, alpha: Float = alpha, initial: Float = 0) -> [Float] {
        var grad = [Float](repeating: initial, count: p.fused.count)
        p.fused.withUnsafeBufferPointer { x in
            grad.withUnsafeMutableBufferPointer {
                QueryDiverseLoss.backward(normalized: x.baseAddress!, dimension: p.dimension, labels: p.labels,
                                          alpha: alpha, delta: delta, upstream: upstream, dNormalized: $0.baseAddress!)
            }
        }
        return grad
    }

    @Test("QDL forward matches a brute-force Double evaluation over all same-video pairs",
          arguments: [91, 92, 93] as [UInt64])
    func forwardMatchesReference(seed: UInt64) throws {
        let p = try LossProblem(seed: seed, queriesPerVideo: LossProblem.randomCounts(seed: seed, videos: 5, maxQueries: 4))
        let reference = ReferenceLoss.queryDiverse(p, alpha: Double(Self.alpha), delta: Double(Self.delta))
        #expect(relativeDifference(Self.value(p), reference) < 1e-5)
    }

    @Test("QDL backward matches finite differences", arguments: [101, 102, 103] as [UInt64])
    func gradientCheck(seed: UInt64) throws {
        var p = try LossProblem(seed: seed, queriesPerVideo: LossProblem.randomCounts(seed: seed, videos: 5, maxQueries: 4),
                                dimension: 8)
        let upstream: Float = 0.6
        let gradient = zip(Self.gradient(p, upstream: upstream, initial: 2), [Float](repeating: 2, count: p.fused.count))
            .map { $0 - $1 }
        let labels = p.labels, dimension = p.dimension
        let error = p.fused.withUnsafeMutableBufferPointer { x in
            gradient.withUnsafeBufferPointer { g in
                GradientCheck.maxRelativeError(parameters: [x], gradients: [g], directions: 4, epsilon: 1e-3) {
                    Double(upstream) * QueryDiverseLoss.forward(normalized: UnsafePointer(x.baseAddress!), dimension: dimension,
                                                                labels: labels, alpha: Self.alpha, delta: Self.delta)
                }
            }
        }
        print("QDL gradient check, seed \(seed): max relative error \(error)")
        #expect(error < 1e-2)
    }

    @Test("Videos with one query contribute 0 to QDL and get no gradient")
    func singleQueryVideos() throws {
        let singles = try LossProblem(seed: 111, queriesPerVideo: [1, 1, 1])
        #expect(Self.value(singles) == 0)
        #expect(Self.gradient(singles).allSatisfy { $0 == 0 })

        let mixed = try LossProblem(seed: 112, queriesPerVideo: [1, 3, 1])
        let reference = ReferenceLoss.queryDiverse(mixed, alpha: Double(Self.alpha), delta: Double(Self.delta))
        #expect(relativeDifference(Self.value(mixed), reference) < 1e-5)
        let grad = Self.gradient(mixed)
        let d = mixed.dimension
        #expect(grad[0 ..< d].allSatisfy { $0 == 0 } && grad[4 * d ..< 5 * d].allSatisfy { $0 == 0 })
        #expect(grad[d ..< 4 * d].contains { $0 != 0 })
    }

    @Test("Identical queries with α = 32 (exp ≈ e^38) and a huge α stay finite")
    func extreme() throws {
        var p = try LossProblem(seed: 121, queriesPerVideo: [4, 2])
        for q in 1 ..< p.queries { for k in 0 ..< p.dimension { p.fused[q * p.dimension + k] = p.fused[k] } }
        let reference = ReferenceLoss.queryDiverse(p, alpha: 32, delta: 0.2)
        #expect(relativeDifference(Self.value(p), reference) < 1e-5)
        for alpha: Float in [32, 1e4] {
            #expect(Self.value(p, alpha: alpha).isFinite)
            #expect(Self.gradient(p, alpha: alpha).allSatisfy { $0.isFinite })
        }
        // Unnormalised, large inputs still give finite values (no overflow inside the exp).
        for k in p.fused.indices { p.fused[k] *= 100 }
        #expect(Self.value(p).isFinite && Self.gradient(p).allSatisfy { $0.isFinite })
    }

    @Test("One query: QDL is 0")
    func oneQuery() throws {
        let p = try LossProblem(seed: 131, queriesPerVideo: [1])
        #expect(Self.value(p) == 0 && Self.gradient(p).allSatisfy { $0 == 0 })
    }
}
