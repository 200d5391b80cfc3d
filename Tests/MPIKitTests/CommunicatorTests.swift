import Foundation
import Testing
import TestSupport

/// Runs `mamfusion selftest comm` for real — alone (MPI singleton) and under `mpirun -np 2`
/// and `-np 3` — and checks every rank's raw collective results against values recomputed here
/// from the rank-dependent inputs the self-test uses.
@Suite(.serialized)
struct CommunicatorTests {
    /// Parsed output: rank → check name → the printed values.
    static func results(_ output: ToolRunner.Output) -> [Int: [String: [String]]] {
        var table: [Int: [String: [String]]] = [:]
        for line in output.lines(startingWith: "rank ") {
            let parts = line.split(separator: " ").map(String.init)
            guard parts.count >= 3, let r = Int(parts[1]) else { continue }
            table[r, default: [:]][parts[2]] = Array(parts.dropFirst(3))
        }
        return table
    }

    /// The expected values of every check on rank `r` of a world of `p` ranks.
    static func expected(rank r: Int, size p: Int) -> [String: [Double]] {
        let tri = Double(p * (p + 1) / 2), pairs = Double(p * (p - 1) / 2), dp = Double(p)
        var e: [String: [Double]] = [:]
        e["size"] = [dp]
        e["allreduce-sum-float-inplace"] = (0..<5).map { Double($0 + 1) * tri }
        e["allreduce-max-double"] = [1.5 * Double(p - 1), 0]
        e["allreduce-min-int32"] = [-3, 0]
        e["allreduce-sum-int64"] = [Double((0..<p).reduce(Int64(0)) { $0 + (Int64($1) << 33) }), dp]
        e["allreduce-max-int64"] = [100]
        e["allreduce-sum-double-scalar"] = [pairs + 0.25 * dp]
        e["allgather-int64"] = (0..<p).flatMap { [Double($0), Double(10 * $0)] }
        e["allgatherv-float"] = (0..<p).flatMap { q in (0...q).map { Double(100 * q + $0) } }
        e["allgatherv-counts"] = (0..<p).map { Double($0 + 1) }
        let start = (0..<r).reduce(0) { $0 + $1 + 1 }
        e["reducescatter-float"] = (start..<start + r + 1).map { Double($0) * tri }
        for k in 0..<3 { e["iallreduce-\(k)"] = [pairs + Double(k) * dp, Double(k) * dp] }
        e["iallreduce-large"] = [65536, tri, tri]
        e["maxloc"] = p >= 2 ? [1, 1] : [0, 0]
        return e
    }

    static func check(_ output: ToolRunner.Output, ranks p: Int) {
        #expect(output.status == 0, "exit \(output.status)\n\(output.stderr)")
        #expect(!output.timedOut)
        let table = results(output)
        #expect(table.keys.sorted() == Array(0..<p), "every rank must report")
        for r in 0..<p {
            guard let got = table[r] else { continue }
            for (name, values) in expected(rank: r, size: p) {
                let parsed = (got[name] ?? []).compactMap(Double.init)
                #expect(parsed == values, "rank \(r) \(name): got \(got[name] ?? []) expected \(values)")
            }
            // Element-wise MAXLOC: (max value, lowest rank holding it) per element.
            #expect(got["maxloc-elementwise"] == ["\(Float(p - 1)):\(p - 1)", "0.0:0", "7.0:0"],
                    "rank \(r) maxloc-elementwise: \(got["maxloc-elementwise"] ?? [])")
            // Merged top 3 of every rank's list (10 − q, 5, 1 at indices 10q, 10q + 1, 10q + 2).
            var all: [(score: Float, index: Int)] = []
            for q in 0..<p { all += [(Float(10 - q), 10 * q), (5, 10 * q + 1), (1, 10 * q + 2)] }
            all.sort { a, b in a.score != b.score ? a.score > b.score : a.index < b.index }
            let merged = all.prefix(3).map { "\($0.score):\($0.index)" }
            #expect(got["topk-merge"] == Array(merged), "rank \(r) topk-merge: \(got["topk-merge"] ?? [])")
        }
    }

    @Test("without mpirun the process is a valid world of size 1")
    func singleton() throws {
        Self.check(try ToolRunner.run(["selftest", "comm"], program: .testSupport), ranks: 1)
    }

    @Test("every collective gives the right result on every one of 2 ranks")
    func twoRanks() throws {
        Self.check(try ToolRunner.run(["selftest", "comm"], ranks: 2, program: .testSupport), ranks: 2)
    }

    @Test("every collective gives the right result on every one of 3 ranks (unequal blocks)")
    func threeRanks() throws {
        Self.check(try ToolRunner.run(["selftest", "comm"], ranks: 3, program: .testSupport), ranks: 3)
    }

    @Test("doctor verifies the collectives and prints every rank")
    func doctor() throws {
        let out = try ToolRunner.run(["doctor", "--quick"], ranks: 2)
        #expect(out.status == 0, "\(out.stderr)")
        #expect(out.stdout.contains("doctor: all checks passed on 2 ranks"))
        #expect(out.lines(startingWith: "  rank 0 ").count == 1 && out.lines(startingWith: "  rank 1 ").count == 1)
        #expect(out.stdout.contains("Open MPI") && out.stdout.contains("HDF5:    1."))
    }
}

@Suite(.serialized)
struct CommunicatorFailureTests {
    @Test("an invalid MPI call throws an MPIError naming the call and the rank, on every rank")
    func invalidCallThrows() throws {
        let out = try ToolRunner.run(["selftest", "error"], ranks: 2, program: .testSupport)
        #expect(out.status == 0, "\(out.stderr)")
        for r in 0..<2 {
            let line = out.lines(startingWith: "rank \(r) ").first ?? ""
            #expect(line.hasPrefix("rank \(r) error rank \(r): MPI_Allreduce failed"), "\(line)")
        }
    }

    @Test("abort from one rank ends the whole job promptly with the rank's message")
    func abortEndsJob() throws {
        let out = try ToolRunner.run(["selftest", "abort"], ranks: 2, timeout: 60, program: .testSupport)
        #expect(!out.timedOut)
        #expect(out.status != 0)
        // The message names the rank and its host (this machine's name: both ranks run here).
        #expect(out.stderr.contains("rank 1 on host \(ToolRunner.hostName) (of 2 ranks) aborting the job: self-test abort requested"), "\(out.stderr)")
        #expect(!out.stdout.contains("survived"))
    }

    @Test("the collective watchdog names a rank that is alive but never reaches the collective the others wait in")
    func watchdogNamesBusyRank() throws {
        let started = Date()
        let out = try ToolRunner.run(["selftest", "stall"], ranks: 2, timeout: 60, program: .testSupport)
        #expect(!out.timedOut && out.status != 0)
        #expect(Date().timeIntervalSince(started) < 40, "the job should end within the 2 s timeout and the roll call")
        #expect(out.stderr.contains("the second collective did not complete within 2 s (collective_timeout)"), "\(out.stderr)")
        #expect(out.stderr.contains("rank 1 on host \(ToolRunner.hostName) did not reach it (at after collective #1; this is #2)"), "\(out.stderr)")
        #expect(!out.stdout.contains("was not stopped"))
    }
}
