import Testing
@testable import MamFusion

struct BatchLabelsTests {
    @Test("Labels from per-video counts give contiguous runs in video order")
    func fromCounts() throws {
        let labels = try BatchLabels(queriesPerVideo: [2, 1, 3])
        #expect(labels.queryVideo == [0, 0, 1, 2, 2, 2])
        #expect(labels.videoQueryRanges == [0 ..< 2, 2 ..< 3, 3 ..< 6])
        #expect(labels.queryCount == 6 && labels.videoCount == 3 && labels.largestVideo == 3)
    }

    @Test("Labels from y_q round-trip with labels from counts")
    func fromQueryVideo() throws {
        let labels = try BatchLabels(queryVideo: [0, 0, 1, 2, 2, 2], videoCount: 3)
        #expect(labels == (try BatchLabels(queriesPerVideo: [2, 1, 3])))
        #expect(try BatchLabels(queryVideo: [0], videoCount: 1).videoQueryRanges == [0 ..< 1])
    }

    @Test("Invalid labels throw errors that name the offending query or video")
    func invalid() {
        #expect(throws: BatchLabelsError.emptyBatch) { try BatchLabels(queriesPerVideo: []) }
        #expect(throws: BatchLabelsError.emptyBatch) { try BatchLabels(queryVideo: [], videoCount: 2) }
        #expect(throws: BatchLabelsError.videoWithoutQueries(video: 1)) { try BatchLabels(queriesPerVideo: [2, 0, 1]) }
        #expect(throws: BatchLabelsError.videoWithoutQueries(video: 1)) { try BatchLabels(queryVideo: [0, 2], videoCount: 3) }
        #expect(throws: BatchLabelsError.videoWithoutQueries(video: 0)) { try BatchLabels(queryVideo: [1, 1], videoCount: 2) }
        #expect(throws: BatchLabelsError.videoWithoutQueries(video: 2)) { try BatchLabels(queryVideo: [0, 1], videoCount: 3) }
        #expect(throws: BatchLabelsError.notContiguous(query: 2, video: 0)) { try BatchLabels(queryVideo: [0, 1, 0], videoCount: 2) }
        #expect(throws: BatchLabelsError.videoIndexOutOfRange(query: 1, video: 5, videoCount: 2)) {
            try BatchLabels(queryVideo: [0, 5], videoCount: 2)
        }
        #expect(BatchLabelsError.notContiguous(query: 2, video: 0).description.contains("query 2"))
    }
}
