import Foundation
import MamFusion
import TestSupport
import Testing
@testable import Training

/// The tool across several hosts, over TCP, on one machine: an emulated cluster
/// (`Launch/cluster-sim`: network + UTS namespaces joined by a bridge, Open MPI started through a
/// launch agent), brought up and removed by each test. Skipped, with the reason printed, where
/// network namespaces cannot be created (not root, no bridge/veth support).
@Suite(.serialized, .enabled(if: SimulatedCluster.isAvailable, "network namespaces cannot be created here (reason printed above)"))
struct EmulatedClusterTests {
    @Test("doctor on 2 hosts: two host names, and its collective checks pass over TCP")
    func doctor() throws {
        let out = try SimulatedCluster.with(hosts: 2) { cluster in
            try cluster.run(["doctor", "--sizes", "4", "--repeats", "1"], ranks: 2)
        }
        #expect(out.status == 0 && !out.timedOut, "\(out.stderr)")
        let rows = out.lines(startingWith: "  rank ")
        #expect(rows.count == 2, "\(out.stdout)")
        for (r, host) in ["\(SimulatedCluster.name)-node1", "\(SimulatedCluster.name)-node2"].enumerated() {
            let row = rows.first { $0.hasPrefix("  rank \(r)  ") } ?? ""
            #expect(row.contains("host \(host) "), "rank \(r): \(row)")
            #expect(row.contains("allreduce ok") && row.contains("allgather ok"), "rank \(r): \(row)")
        }
        #expect(out.stdout.contains("  4 MiB"), "the all-reduce bandwidth line: \(out.stdout)")
        #expect(out.stdout.contains("doctor: all checks passed on 2 ranks"))
    }

    @Test("training on 2 hosts × 1 rank (TCP) and 2 hosts × 2 ranks (shared memory within a host, TCP between) equals 1 rank")
    func trainingAcrossHosts() throws {
        let base = DistributedEquivalenceTests.data
        try DistributedEquivalenceTests.train(ranks: 1, output: "\(base)/cluster-1", steps: 7)
        let one = try DistributedEquivalenceTests.parameters("\(base)/cluster-1")
        for (hosts, perHost) in [(2, 1), (2, 2)] {
            let output = "\(base)/cluster-\(hosts)x\(perHost)"
            let out = try SimulatedCluster.with(hosts: hosts, slots: perHost) { cluster in
                try DistributedEquivalenceTests.train(ranks: hosts * perHost, output: output, steps: 7,
                                                      launcher: cluster.launcher(ranks: hosts * perHost, sharedMemory: perHost > 1),
                                                      environment: ["OMPI_MCA_btl_base_verbose": "100"])
            }
            // Open MPI's choice of transport per pair of ranks: TCP between hosts, shared memory
            // (vader) within one, never the other way round.
            let routes = Self.transports(out.stderr)
            #expect(routes.contains { $0.btl == "tcp" }, "\(routes)")
            #expect(routes.allSatisfy { $0.btl == "self" || ($0.btl == "tcp") == ($0.from != $0.to) }, "\(routes)")
            #expect(routes.contains { $0.btl == "vader" } == (perHost > 1), "\(routes)")
            let difference = DistributedEquivalenceTests.largestRelativeDifference(one, try DistributedEquivalenceTests.parameters(output))
            print("largest relative parameter difference, 1 rank vs \(hosts) hosts × \(perHost) ranks after 7 steps: \(difference)")
            #expect(difference < DistributedEquivalenceTests.rankInvariance, "\(hosts) hosts × \(perHost) ranks: \(difference)")
        }
    }

    /// The transports Open MPI reported choosing (btl_base_verbose): "[host:pid] mca: bml: Using
    /// tcp btl for send to [[job,1],rank] on node host".
    static func transports(_ log: String) -> [(btl: String, from: String, to: String)] {
        log.split(separator: "\n").compactMap { line in
            guard let m = line.firstMatch(of: #/^\[([^:\]]+):[0-9]+\] mca: bml: Using (\w+) btl for send to \S+ on node (\S+)/#) else { return nil }
            return (String(m.output.2), String(m.output.1), String(m.output.3))
        }
    }

    @Test("evaluation on 3 hosts equals 1 rank: every query's rank, score and top 3 identical")
    func evaluationAcrossHosts() throws {
        let root = try writeToyCollection(trainVideos: 4, evaluationVideos: 14, frames: 5...14, seed: 21, label: "cluster-eval")
        let settings = DistributedEquivalenceTests.settings(output: root + "/run").map { $0.hasPrefix("data_root=") ? "data_root=\(root)" : $0 }
        func evaluate(_ file: String, launcher: [String]?) throws -> String {
            let out = try ToolRunner.run(["eval", "--split", "test", "--ranks-out", file, "--top-k", "3"] + settings,
                                         launcher: launcher, timeout: 120)
            #expect(out.status == 0 && !out.timedOut, "\(out.stderr)")
            return try String(contentsOfFile: file, encoding: .utf8)
        }
        let one = try evaluate(root + "/ranks-1.jsonl", launcher: nil)
        let three = try SimulatedCluster.with(hosts: 3) { cluster in
            try evaluate(root + "/ranks-3.jsonl", launcher: cluster.launcher(ranks: 3))
        }
        #expect(one.split(separator: "\n").count == 28, "14 videos × 2 captions")
        #expect(one == three)
    }

    /// The last checkpoint of a run that failed: complete (every tensor and the optimiser state),
    /// finite, and from a step of the run.
    static func expectValidCheckpoint(_ output: String) throws {
        let layout = try DistributedEquivalenceTests.parameters(output).layout
        let parameters = ParameterSet(layout: layout), expAvg = ParameterSet(layout: layout), expAvgSq = ParameterSet(layout: layout)
        let (state, _, hasOptimizer) = try Checkpoint.read(from: output + "/checkpoints/latest.h5", into: parameters, expAvg: expAvg, expAvgSq: expAvgSq)
        #expect(hasOptimizer && state.step > 0, "step \(state.step)")
        #expect(parameters.storage.buffer.allSatisfy { $0.isFinite } && expAvgSq.storage.buffer.allSatisfy { $0.isFinite })
    }

    /// A long run on 2 hosts × 1 rank whose rank on the second host gets `signal` once a
    /// checkpoint exists: what the job printed, the seconds from the signal to its end, and the
    /// run directory.
    static func signalRemoteRank(_ signal: Int32, collectiveTimeout: Int) throws -> (ToolRunner.Output, Double, String) {
        let root = try TrainingFailureTests.data(), output = root + "/cluster-signal-\(signal)"
        let (out, seconds) = try SimulatedCluster.with(hosts: 2) { cluster in
            try TrainingFailureTests.signalRankOne(signal, root: root, output: output, timeout: collectiveTimeout,
                                                   launcher: cluster.launcher(ranks: 2), afterCheckpoint: true)
        }
        #expect(!out.timedOut && out.status != 0)
        return (out, seconds, output)
    }

    @Test("SIGKILL of the rank on the second host: non-zero exit within the collective timeout naming the rank and its host; the checkpoint stays valid")
    func killedRemoteRank() throws {
        let (out, seconds, output) = try Self.signalRemoteRank(SIGKILL, collectiveTimeout: 20)
        #expect(seconds < 20, "took \(seconds) s")
        // Open MPI's "process rank 1 with PID … on node H" or this tool's "rank 1 on host H".
        let text = out.stderr + out.stdout
        #expect(text.range(of: #"rank 1 (with PID [0-9]+ )?on (node|host) \#(SimulatedCluster.name)-node2\b"#, options: .regularExpression) != nil, "\(text)")
        try Self.expectValidCheckpoint(output)
    }

    @Test("SIGSTOP of the rank on the second host: the watchdog names the silent rank and its host; the checkpoint stays valid")
    func stoppedRemoteRank() throws {
        let (out, seconds, output) = try Self.signalRemoteRank(SIGSTOP, collectiveTimeout: 4)
        #expect(seconds < 4 + 15, "took \(seconds) s")
        #expect(out.stderr.contains("collective_timeout"), "\(out.stderr)")
        #expect(out.stderr.contains("rank 1 on host \(SimulatedCluster.name)-node2 did not"), "\(out.stderr)")
        try Self.expectValidCheckpoint(output)
    }
}
