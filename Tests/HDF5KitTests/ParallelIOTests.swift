import Foundation
import Testing
import TestSupport
@testable import HDF5Kit

/// Runs `mamfusion selftest-io` under `mpirun -np P` (parallel HDF5 through MPI-IO) and checks
/// every rank's printed results and the written files against values computed here.
@Suite(.serialized)
struct ParallelIOTests {
    static let columns = 8

    /// Row offsets: rank r owns r + 2 rows.
    static func offsets(_ ranks: Int) -> [Int] {
        var offsets = [0]
        for q in 0..<ranks { offsets.append(offsets[q] + q + 2) }
        return offsets
    }

    static func value(row: Int, column: Int) -> Float { Float(1000 * row + column) }

    /// The line a rank must print for reading `rows`.
    static func line(_ rank: Int, _ check: String, _ rows: Range<Int>) -> String {
        let values = rows.flatMap { row in (0..<columns).map { 1000 * row + $0 } }
        return (["rank \(rank) \(check)", "\(rows.lowerBound)", "\(rows.count)", "\(values.reduce(0, +))"]
            + values.map(String.init)).joined(separator: " ")
    }

    @Test("ranks write their own rows collectively and read other ranks' rows back", arguments: [2, 3])
    func selfTest(ranks: Int) throws {
        try withTemporaryDirectory { dir in
            let output = try ToolRunner.run(["selftest-io", "--dir", dir], ranks: ranks, timeout: 60, program: .testSupport)
            #expect(output.status == 0 && !output.timedOut, "stderr: \(output.stderr)")
            let offsets = Self.offsets(ranks)
            let total = offsets[ranks]
            func rows(of q: Int) -> Range<Int> { offsets[q]..<offsets[q + 1] }
            for r in 0..<ranks {
                let next = rows(of: (r + 1) % ranks), previous = rows(of: (r + ranks - 1) % ranks)
                let expected = [
                    Self.line(r, "independent", next),
                    Self.line(r, "independent-chunked", next),
                    Self.line(r, "collective", previous),
                    Self.line(r, "collective-partial", r == ranks - 1 ? 0..<0 : 0..<(r + 1)),
                    Self.line(r, "whole-read", 0..<total),
                    "rank \(r) whole-int64 0 7 14 21 28",
                    "rank \(r) atomic-done",
                ]
                #expect(output.lines(startingWith: "rank \(r) ") == expected, "rank \(r)")
            }

            // Read what the ranks wrote, serially, from this process.
            let file = try HDF5File.open(dir + "/selftest-io.h5")
            #expect(try file.int64Attribute("ranks") == Int64(ranks))
            #expect(try file.int64ArrayAttribute("offsets") == offsets.map { Int64($0) })
            let matrix = (0..<total).flatMap { row in (0..<Self.columns).map { Self.value(row: row, column: $0) } }
            for name in ["rows", "chunked/rows"] {
                let dataset = try file.openDataset(name)
                #expect(dataset.shape == [total, Self.columns])
                let whole = try dataset.read(as: Float.self)
                for row in 0..<total {
                    #expect(Array(whole[(row * Self.columns)..<((row + 1) * Self.columns)])
                            == (0..<Self.columns).map { Self.value(row: row, column: $0) }, "\(name) row \(row)")
                }
            }
            #expect(try file.readDataset("whole", as: Int64.self) == [0, 7, 14, 21, 28])  // rank 0's values
            let atomic = try HDF5File.open(dir + "/selftest-io-atomic.h5")
            #expect(try atomic.readDataset("rows", as: Float.self) == matrix)
            #expect(!FileManager.default.fileExists(atPath: dir + "/selftest-io-atomic.h5.tmp"))
        }
    }
}
