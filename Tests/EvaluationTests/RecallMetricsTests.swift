import Testing
@testable import Evaluation

struct RecallMetricsTests {
    @Test("R@K, SumR, median and mean rank from ranks")
    func metrics() {
        let m = RecallMetrics(ranks: [1, 2, 6, 11, 101, 1, 3, 50])
        #expect(m.r1 == 25 && m.r5 == 50 && m.r10 == 62.5 && m.r100 == 87.5)
        #expect(m.sumR == 225)
        #expect(m.medianRank == 4.5 && m.meanRank == 21.875)
    }
}
