import ArgumentParser
import HDF5Kit
import MPIKit

/// `mamfusion-test-support selftest-io --dir DIR`: exercises parallel HDF5 (MPI-IO) the way sharded data
/// loading and checkpointing use it, and prints each rank's raw results, one line per check:
///
///     rank <r> <check> <start> <count> <checksum> <values…>
///
/// Layout: rank r owns rows [offsets[r], offsets[r+1]) of a (totalRows × 8) float32 matrix,
/// with r + 2 rows per rank (unequal on purpose), element (row, col) = 1000·row + col.
/// Every rank writes its own rows collectively into a contiguous (`/rows`) and a chunked
/// (`/chunked/rows`) dataset of `DIR/selftest-io.h5`, then reads back rows owned by other ranks
/// independently and collectively (including a collective read in which the last rank moves
/// nothing). `/whole` is written whole-dataset from rank-dependent values (rank 0's must win).
/// `DIR/selftest-io-atomic.h5` is written with `HDF5File.writeAtomically` in parallel.
/// A test recomputes every value independently. Test-only: not part of the shipped tool.
struct ParallelIOSelfTest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selftest-io",
        abstract: "Print raw parallel HDF5 results for the test suite.",
    )

    @Option(help: "Directory for the files written (shared by all ranks).")
    var dir: String

    static let columns = 8

    func run() throws {
        let world = try Communicator.world()
        let r = world.rank, p = world.size
        let columns = Self.columns
        var offsets = [0]
        for q in 0..<p { offsets.append(offsets[q] + q + 2) }
        let totalRows = offsets[p]
        func rows(of q: Int) -> Range<Int> { offsets[q]..<offsets[q + 1] }

        var lines: [String] = []
        func emit(_ check: String, _ range: Range<Int>, _ values: [Float]) {
            let checksum = values.reduce(0.0) { $0 + Double($1) }
            let text = ([range.lowerBound, range.count, Int(checksum)] + values.map { Int($0) }).map(String.init).joined(separator: " ")
            lines.append("rank \(r) \(check) \(text)")
        }

        let access = HDF5FileAccess.parallel(world)
        let file = try HDF5File.create(dir + "/selftest-io.h5", access: access)
        try file.setAttribute("ranks", .int64(Int64(p)))
        try file.setAttribute("offsets", .int64s(offsets.map { Int64($0) }))
        let contiguous = try file.createDataset("rows", type: .float32, shape: [totalRows, columns])
        let chunked = try file.createDataset("chunked/rows", type: .float32, shape: [totalRows, columns], chunk: [3, columns])
        let mine = rows(of: r)
        let values = mine.flatMap { row in (0..<columns).map { Float(1000 * row + $0) } }
        try contiguous.writeRows(mine, values, transfer: .collective)
        try chunked.writeRows(mine, values, transfer: .collective)
        // Whole-dataset write on a parallel file: collective, rank 0's values are written.
        let whole = try file.createDataset("whole", values: (0..<5).map { Int64(7 * $0 + 1000 * r) })
        try file.flush()
        try world.barrier()

        let next = rows(of: (r + 1) % p)
        emit("independent", next, try contiguous.readRows(next, as: Float.self, transfer: .independent))
        emit("independent-chunked", next, try chunked.readRows(next, as: Float.self, transfer: .independent))
        let previous = rows(of: (r + p - 1) % p)
        emit("collective", previous, try contiguous.readRows(previous, as: Float.self, transfer: .collective))
        let partial = r == p - 1 ? 0..<0 : 0..<(r + 1)
        emit("collective-partial", partial, try chunked.readRows(partial, as: Float.self, transfer: .collective))
        let all = try contiguous.read(as: Float.self)
        emit("whole-read", 0..<totalRows, all)
        lines.append("rank \(r) whole-int64 " + (try whole.read(as: Int64.self)).map(String.init).joined(separator: " "))

        try whole.close()
        try chunked.close()
        try contiguous.close()
        try file.close()

        try HDF5File.writeAtomically(to: dir + "/selftest-io-atomic.h5", access: access) { file in
            let dataset = try file.createDataset("rows", type: .float32, shape: [totalRows, columns], chunk: [2, columns])
            try dataset.writeRows(mine, values, transfer: .collective)
            try dataset.close()
        }
        lines.append("rank \(r) atomic-done")

        try world.printInRankOrder(lines: lines)
    }
}
