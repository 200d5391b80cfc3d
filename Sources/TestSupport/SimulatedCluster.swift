import Foundation
import Synchronization
import TensorKit

/// An emulated cluster for tests (`Launch/cluster-sim`): hosts that are network + UTS namespaces
/// joined by a bridge, with their own host names and addresses that exist only inside those
/// namespaces. `with(hosts:)` brings one up for the duration of a test and removes it afterwards,
/// then checks that no namespace, mount or process of it is left. One cluster at a time in a
/// test process (suites of different targets run concurrently in one process).
public struct SimulatedCluster: Sendable {
    /// The cluster name tests use: namespaces mftest-node1…, mftest-switch; state directory
    /// /tmp/cluster-sim-mftest. Distinct from the default name a user's cluster gets.
    public static let name = "mftest"
    /// The host names, in hostfile order (ranks are placed by slot: the first `slots` ranks on
    /// the first host, and so on).
    public let hosts: [String]
    public let slots: Int

    /// The repository's `Launch/cluster-sim`.
    static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Launch/cluster-sim").path
    }

    /// The environment every cluster-sim call of the tests gets.
    static let environment = ["CLUSTER_SIM_NAME": name]

    /// Why clusters cannot be made on this machine, or nil when they can: `cluster-sim check`
    /// creates a probe namespace holding a bridge and a veth pair, then removes it. Run once.
    public static let unavailableReason: String? = {
        guard let out = try? runScript(["check"]) else { return "\(script) could not be started" }
        if out.status == 0 { return nil }
        let reason = (out.stderr + out.stdout).trimmingCharacters(in: .whitespacesAndNewlines)
        return reason.isEmpty ? "cluster-sim check exited \(out.status)" : reason
    }()

    /// For `.enabled(if:)`: true when clusters can be made; otherwise prints (once) why the
    /// tests are skipped.
    public static let isAvailable: Bool = {
        guard let reason = unavailableReason else { return true }
        print("emulated-cluster tests skipped: \(reason)")
        return false
    }()

    private static let lock = Mutex<Void>(())

    /// Brings up `hosts` hosts with `slots` MPI slots each, runs `body`, and removes the cluster
    /// (also when `body` throws). Throws if the cluster cannot be made or leaves anything behind.
    public static func with<R>(hosts: Int, slots: Int = 1, _ body: (SimulatedCluster) throws -> R) throws -> R {
        try lock.locked { try withLockHeld(hosts: hosts, slots: slots, body) }
    }

    /// The body of `with`, one cluster at a time.
    private static func withLockHeld<R>(hosts: Int, slots: Int, _ body: (SimulatedCluster) throws -> R) throws -> R {
        // A cluster of this name left by a crashed earlier test process would block `up`.
        _ = try runScript(["down"])
        let up = try runScript(["up", String(hosts), "--slots", String(slots)])
        guard up.status == 0 else {
            _ = try? runScript(["down"])
            throw SimulatedClusterError.command("up \(hosts)", up)
        }
        let cluster = SimulatedCluster(hosts: (1...hosts).map { "\(name)-node\($0)" }, slots: slots)
        let result: Result<R, Error> = Result { try body(cluster) }
        let down = try runScript(["down"])
        guard down.status == 0 else { throw SimulatedClusterError.command("down", down) }
        let leftovers = try runScript(["leftovers"])
        guard leftovers.status == 0 else { throw SimulatedClusterError.command("leftovers", leftovers) }
        return try result.get()
    }

    /// The launcher for `ToolRunner.run` / `start`: mpirun on the first host, `ranks` ranks
    /// placed by slot, over TCP between hosts (`sharedMemory`: and shared memory between the
    /// ranks of one host).
    public func launcher(ranks: Int, sharedMemory: Bool = false) -> [String] {
        ["/usr/bin/env"] + Self.environment.map { "\($0)=\($1)" } + [Self.script, "run"]
            + (sharedMemory ? ["--shared-memory"] : []) + ["--", "-np", String(ranks)]
    }

    /// Runs `mamfusion arguments…` on `ranks` ranks across the cluster.
    public func run(_ arguments: [String], ranks: Int, sharedMemory: Bool = false, timeout: Double = 120,
                    environment: [String: String] = [:]) throws -> ToolRunner.Output {
        try ToolRunner.run(arguments, launcher: launcher(ranks: ranks, sharedMemory: sharedMemory), timeout: timeout,
                           environment: environment)
    }

    /// Runs `Launch/cluster-sim arguments…` and waits for it.
    static func runScript(_ arguments: [String]) throws -> ToolRunner.Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: script)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        return ToolRunner.Running(process: process, stdout: out, stderr: err).wait(timeout: 60)
    }
}

public enum SimulatedClusterError: Error, CustomStringConvertible {
    case command(String, ToolRunner.Output)
    public var description: String {
        switch self {
        case .command(let what, let out):
            return "Launch/cluster-sim \(what) failed (exit \(out.status)):\n\(out.stderr)\(out.stdout)"
        }
    }
}
