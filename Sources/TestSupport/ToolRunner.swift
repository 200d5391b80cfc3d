import Foundation
import Synchronization
import TensorKit

/// Runs the built `mamfusion` executable — alone or under `mpirun -np P` — from inside
/// `swift test`, the way a user would, and captures what it prints.
public enum ToolRunner {
    /// What one run printed and how it ended.
    public struct Output: Sendable {
        public let status: Int32
        public let stdout: String
        public let stderr: String
        public let timedOut: Bool
        public let seconds: Double

        /// Lines of stdout starting with `prefix` (e.g. "rank 1 ").
        public func lines(startingWith prefix: String) -> [String] {
            stdout.split(separator: "\n", omittingEmptySubsequences: true).map(String.init).filter { $0.hasPrefix(prefix) }
        }
    }

    /// The directory holding the binaries of this build (`.build/debug` under `swift test`).
    public static var buildDirectory: URL {
        // The test runner itself (…/mamfusion-mpiPackageTests.xctest) lives next to the products.
        let runner = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var dir = runner.deletingLastPathComponent()
        // On Darwin the runner is inside an .xctest bundle; walk up to the products directory.
        while dir.path != "/" && !FileManager.default.fileExists(atPath: dir.appendingPathComponent("mamfusion").path) {
            dir = dir.deletingLastPathComponent()
        }
        return dir
    }

    /// The executables tests launch: the shipped tool, or the test-only commands.
    public enum Program: String, Sendable {
        case tool = "mamfusion"
        case testSupport = "mamfusion-test-support"
    }

    /// The built `mamfusion` executable.
    public static var executable: URL { buildDirectory.appendingPathComponent(Program.tool.rawValue) }

    /// The `mpirun` launcher, with the flags containers need (run as root, more ranks than cores).
    public static func mpirunArguments(ranks: Int) -> [String] {
        ["-np", String(ranks), "--oversubscribe", "--allow-run-as-root", "--bind-to", "none",
         "--mca", "btl", "self,vader"]
    }

    /// One `mpirun` job at a time in this test process: suites run in parallel, and concurrent
    /// Open MPI jobs on a 2-core machine starve each other (and share session directories).
    private static let mpirunLock = Mutex<Void>(())

    /// Runs `mamfusion arguments…` (or another of the built `program`s), under `mpirun -np ranks`
    /// when `ranks` is given, or after the `launcher` command when given (e.g.
    /// `Launch/cluster-sim run -- -np 2`).
    public static func run(_ arguments: [String], ranks: Int? = nil, launcher: [String]? = nil, timeout: Double = 120,
                           environment extra: [String: String] = [:], program: Program = .tool) throws -> Output {
        if ranks != nil || launcher != nil {
            return try mpirunLock.locked {
                try start(arguments, ranks: ranks, launcher: launcher, environment: extra, program: program).wait(timeout: timeout)
            }
        }
        return try start(arguments, environment: extra, program: program).wait(timeout: timeout)
    }

    /// A run in progress (`start`): its process, and `wait` collects what it printed.
    // @unchecked Sendable: the output boxes are written by their reader threads before
    // `group.leave()` and read only after `group.wait`.
    public final class Running: @unchecked Sendable {
        public let process: Process
        let out = DataBox(), err = DataBox()
        let group = DispatchGroup()
        let started = Date()

        init(process: Process, stdout: Pipe, stderr: Pipe) {
            self.process = process
            for (pipe, box) in [(stdout, out), (stderr, err)] {
                group.enter()
                DispatchQueue.global().async { [group] in
                    box.data = pipe.fileHandleForReading.readDataToEndOfFile()
                    group.leave()
                }
            }
        }

        /// Waits for the end (killing the job after `timeout` seconds) and returns its output.
        public func wait(timeout: Double) -> Output {
            var timedOut = false
            if group.wait(timeout: .now() + timeout) == .timedOut {
                timedOut = true
                process.terminate()
                _ = group.wait(timeout: .now() + 10)
            }
            process.waitUntilExit()
            return Output(status: process.terminationStatus,
                          stdout: String(decoding: out.data, as: UTF8.self),
                          stderr: String(decoding: err.data, as: UTF8.self),
                          timedOut: timedOut,
                          seconds: Date().timeIntervalSince(started))
        }
    }

    /// Starts `mamfusion arguments…` (or another `program`; under `mpirun -np ranks`, or after
    /// `launcher`, when given) without waiting. Callers launching mpirun this way must not run
    /// another mpirun job concurrently.
    public static func start(_ arguments: [String], ranks: Int? = nil, launcher: [String]? = nil,
                             environment extra: [String: String] = [:], program: Program = .tool) throws -> Running {
        let process = Process()
        let binary = buildDirectory.appendingPathComponent(program.rawValue)
        if let launcher, let command = launcher.first {
            process.executableURL = URL(fileURLWithPath: command)
            process.arguments = Array(launcher.dropFirst()) + [binary.path] + arguments
        } else if let ranks {
            process.executableURL = URL(fileURLWithPath: try which("mpirun"))
            process.arguments = mpirunArguments(ranks: ranks) + [binary.path] + arguments
        } else {
            process.executableURL = binary
            process.arguments = arguments
        }
        // A test that initialised MPI in this process (a singleton) leaves Open MPI / PMIx
        // variables in the environment; a child mpirun that inherits them exits at once.
        var env = ProcessInfo.processInfo.environment.filter { key, _ in
            !(key.hasPrefix("OMPI_") || key.hasPrefix("PMIX_") || key.hasPrefix("ORTE_") || key.hasPrefix("OPAL_"))
        }
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        env["OPENBLAS_NUM_THREADS"] = env["OPENBLAS_NUM_THREADS"] ?? "1"
        // Children inherit this process's open descriptors, HDF5 files among them; HDF5's file
        // locks would then outlive the test's own close. Tests never share a file between
        // writers, so locking is off here and in the children.
        setenv("HDF5_USE_FILE_LOCKING", "FALSE", 1)
        env["HDF5_USE_FILE_LOCKING"] = "FALSE"
        for (k, v) in extra { env[k] = v }
        process.environment = env
        let outPipe = Pipe(), errPipe = Pipe()
        process.standardOutput = outPipe
        process.standardError = errPipe
        try process.run()
        return Running(process: process, stdout: outPipe, stderr: errPipe)
    }

    /// Runs `body` while holding the mpirun lock (for tests that `start` mpirun jobs).
    public static func exclusively<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        try mpirunLock.locked(body)
    }

    /// Process ids of the ranks of a running job whose command line contains `marker`, by MPI rank
    /// (read from each process's environment, OMPI_COMM_WORLD_RANK).
    public static func rankProcesses(marker: String) -> [Int: Int32] {
        var found: [Int: Int32] = [:]
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return found }
        for entry in entries {
            guard let pid = Int32(entry),
                  let cmdline = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"),
                  String(decoding: cmdline, as: UTF8.self).contains(marker),
                  let environ = FileManager.default.contents(atPath: "/proc/\(entry)/environ") else { continue }
            for variable in environ.split(separator: 0) {
                let text = String(decoding: variable, as: UTF8.self)
                if text.hasPrefix("OMPI_COMM_WORLD_RANK="), let r = Int(text.dropFirst("OMPI_COMM_WORLD_RANK=".count)) {
                    found[r] = pid
                }
            }
        }
        return found
    }

    /// This machine's host name as MPI_Get_processor_name reports it (gethostname): the host
    /// failure messages name for ranks started here by plain `mpirun`.
    public static var hostName: String {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Full path of a program on PATH.
    public static func which(_ name: String) throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw ToolRunnerError.notFound(name)
    }
}

public enum ToolRunnerError: Error, CustomStringConvertible {
    case notFound(String)
    public var description: String {
        switch self {
        case .notFound(let name): return "\(name) is not on PATH (run Launch/setup to install Open MPI)"
        }
    }
}

// @unchecked Sendable: written once by a reader thread, read after the dispatch group is done.
final class DataBox: @unchecked Sendable {
    var data = Data()
}
