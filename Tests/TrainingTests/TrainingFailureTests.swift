import FeatureData
import MamFusion
import Foundation
import TestSupport
import Testing
@testable import Training

/// How `mpirun -np 2 mamfusion train` fails: never silently, never hanging, never tearing the
/// last good checkpoint.
@Suite(.serialized)
struct TrainingFailureTests {
    static func data() throws -> String {
        try writeToyCollection(trainVideos: 13, evaluationVideos: 5, frames: 5...14, seed: 5, label: "failure")
    }

    static func settings(_ root: String, output: String, extra: [String] = []) -> [String] {
        DistributedEquivalenceTests.settings(output: output).map { $0.hasPrefix("data_root=") ? "data_root=\(root)" : $0 } + extra
    }

    @Test("a NaN in one video's features stops the run naming the file, frame and rank; the checkpoint stays intact")
    func nanInFeatures() throws {
        let root = try Self.data()
        let output = root + "/run"
        let first = try ToolRunner.run(["train", "--max-steps", "2", "--no-validation", "--quiet"] + Self.settings(root, output: output), ranks: 2)
        #expect(first.status == 0, "\(first.stderr)")
        let checkpoint = output + "/checkpoints/latest.h5"
        // Poison frame 3 of the feature file (row 3 of feature.bin).
        let features = root + "/toy/FeatureData/synthetic/feature.bin"
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: features))
        try handle.seek(toOffset: UInt64(3 * 20 * 4 + 8))
        handle.write(Data(withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { Array($0) }))
        try handle.close()
        let out = try ToolRunner.run(["train", "--resume", "latest", "--max-steps", "8", "--no-validation", "--quiet"]
                                     + Self.settings(root, output: output), ranks: 2, timeout: 120)
        #expect(out.status != 0)
        #expect(!out.timedOut)
        #expect(out.stderr.contains("NaN") || out.stderr.contains("nan"), "\(out.stderr)")
        #expect(out.stderr.contains("feature.bin"), "\(out.stderr)")
        #expect(out.stderr.range(of: #"rank [01]"#, options: .regularExpression) != nil, "\(out.stderr)")
        // The latest checkpoint is a complete file from a good step (the run may have saved good
        // steps before it reached the poisoned video), with finite parameters.
        let parameters = try DistributedEquivalenceTests.parameters(output)
        #expect(parameters.storage.buffer.allSatisfy { $0.isFinite })
        #expect(!FileManager.default.fileExists(atPath: checkpoint + ".tmp"))
    }

    /// Starts a long run on 2 ranks (of this machine, or placed by `launcher` across an emulated
    /// cluster) and returns it once both ranks are training (`afterCheckpoint`: and the first
    /// `latest` checkpoint has been written, at the end of the first epoch).
    static func startLongRun(_ root: String, output: String, timeout: Int, launcher: [String]? = nil,
                             afterCheckpoint: Bool = false) throws -> (ToolRunner.Running, [Int: Int32]) {
        let running = try ToolRunner.start(["train", "--no-validation", "--quiet"]
                                           + settings(root, output: output, extra: ["--set", "n_epoch=100000", "--set", "collective_timeout=\(timeout)"]),
                                           ranks: launcher == nil ? 2 : nil, launcher: launcher)
        let deadline = Date().addingTimeInterval(60)
        var pids: [Int: Int32] = [:]
        while Date() < deadline {
            pids = ToolRunner.rankProcesses(marker: output)
            let metrics = (try? String(contentsOfFile: output + "/metrics.jsonl", encoding: .utf8)) ?? ""
            let checkpointed = !afterCheckpoint || FileManager.default.fileExists(atPath: output + "/checkpoints/latest.h5")
            if pids.count == 2 && metrics.split(separator: "\n").count >= 2 && checkpointed { break }
            usleep(100_000)
        }
        return (running, pids)
    }

    /// A long 2-rank run whose rank 1 gets `signal` once both train (`afterCheckpoint`: and a
    /// checkpoint exists): what the job printed and the seconds from the signal to its end. A
    /// stopped rank is killed afterwards.
    static func signalRankOne(_ signal: Int32, root: String, output: String, timeout: Int, launcher: [String]? = nil,
                              afterCheckpoint: Bool = false) throws -> (ToolRunner.Output, Double) {
        try ToolRunner.exclusively {
            let (running, pids) = try startLongRun(root, output: output, timeout: timeout, launcher: launcher, afterCheckpoint: afterCheckpoint)
            #expect(pids.count == 2, "both ranks should be running: \(pids)")
            let signalled = Date()
            if let victim = pids[1] { kill(victim, signal) }
            let out = running.wait(timeout: 60)
            let seconds = Date().timeIntervalSince(signalled)
            if signal == SIGSTOP, let victim = pids[1] { kill(victim, SIGKILL) }
            return (out, seconds)
        }
    }

    @Test("a killed rank makes mpirun exit non-zero promptly, naming the rank")
    func killedRank() throws {
        let root = try Self.data()
        let (out, seconds) = try Self.signalRankOne(SIGKILL, root: root, output: root + "/killed", timeout: 20)
        #expect(!out.timedOut && out.status != 0)
        #expect(seconds < 20, "took \(seconds) s")
        #expect((out.stderr + out.stdout).contains("rank 1"), "\(out.stderr)")
    }

    @Test("a stalled rank ends the job within the collective timeout, the silent rank named")
    func stalledRank() throws {
        let root = try Self.data()
        let (out, seconds) = try Self.signalRankOne(SIGSTOP, root: root, output: root + "/stalled", timeout: 4)
        #expect(!out.timedOut && out.status != 0)
        #expect(seconds < 4 + 15, "took \(seconds) s")
        #expect(out.stderr.contains("collective_timeout"), "\(out.stderr)")
        #expect(out.stderr.contains("rank 1 on host \(ToolRunner.hostName) did not"), "\(out.stderr)")
    }

    @Test("SIGTERM writes a latest checkpoint at a step boundary and exits on every rank")
    func terminate() throws {
        let root = try Self.data()
        let output = root + "/terminated"
        try ToolRunner.exclusively {
            let (running, pids) = try Self.startLongRun(root, output: output, timeout: 30)
            #expect(pids.count == 2)
            for pid in pids.values { kill(pid, SIGTERM) }
            let out = running.wait(timeout: 60)
            #expect(!out.timedOut)
            #expect(out.status != 0)
            #expect(out.stderr.contains("stopped by signal"), "\(out.stderr)")
            #expect(FileManager.default.fileExists(atPath: output + "/checkpoints/latest.h5"))
        }
    }
}
