import Foundation
import HDF5Kit
import TensorKit
@testable import Evaluation

/// Runs `body` with a fresh directory under the system temporary directory, removed afterwards.
func withTemporaryDirectory<R>(_ body: (String) throws -> R) throws -> R {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("evaluation-tests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: url) }
    return try body(url.path)
}

extension RetrievalProblem {
    /// Writes the videos as an embedding index (one process) and the queries as
    /// `/queries` [Q, d] float32 + `/ground_truth` [Q] int64, for `mamfusion selftest-eval`.
    func write(index: String, queries path: String) throws {
        try EmbeddingIndex.write(to: index, shard: shard(0..<videos), videoIDs: videoIDs, communicator: nil)
        let file = try HDF5File.create(path)
        try file.createDataset("queries", values: queryValues, shape: [queries, dim]).close()
        try file.createDataset("ground_truth", values: groundTruth.map(Int64.init)).close()
        try file.close()
    }
}
