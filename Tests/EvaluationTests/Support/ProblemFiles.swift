import Foundation
@testable import HDF5Kit
import MPIKit
import TensorKit
@testable import Evaluation

/// HDF5 takes an flock() on every file it opens, on a descriptor without FD_CLOEXEC, and
/// Foundation's `Process` (posix_spawn without closefrom) passes every open descriptor to the
/// `mpirun` children that concurrent tests launch — so a child can hold, for its whole life, the
/// lock of a file this process has already closed, and the next open here fails with EAGAIN
/// ("unable to lock file"). Tests need no locking: turn it off, here and in the children
/// (`childEnvironment`). HDF5 reads the variable at every open.
let hdf5FileLockingOff: Void = HDF5Lock.sync { _ = setenv("HDF5_USE_FILE_LOCKING", "FALSE", 1) }
let childEnvironment = ["HDF5_USE_FILE_LOCKING": "FALSE"]

/// Runs `body` with a fresh directory under the system temporary directory, removed afterwards.
func withTemporaryDirectory<R>(_ body: (String) throws -> R) throws -> R {
    hdf5FileLockingOff
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("evaluation-tests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: url) }
    return try body(url.path)
}

extension RetrievalProblem {
    /// Writes the videos as an embedding index (one process) and the queries as
    /// `/queries` [Q, d] float32 + `/ground_truth` [Q] int64, for `mamfusion-test-support selftest-eval`.
    func write(index: String, queries path: String) throws {
        try EmbeddingIndex.write(to: index, shard: shard(0..<videos), videoIDs: videoIDs, world: LocalWorld())
        let file = try HDF5File.create(path)
        try file.createDataset("queries", values: queryValues, shape: [queries, dim]).close()
        try file.createDataset("ground_truth", values: groundTruth.map(Int64.init)).close()
        try file.close()
    }
}
