import Foundation

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

    /// The built `mamfusion` executable.
    public static var executable: URL { buildDirectory.appendingPathComponent("mamfusion") }

    /// The `mpirun` launcher, with the flags containers need (run as root, more ranks than cores).
    public static func mpirunArguments(ranks: Int) -> [String] {
        ["-np", String(ranks), "--oversubscribe", "--allow-run-as-root", "--bind-to", "none",
         "--mca", "btl", "self,vader"]
    }

    /// One `mpirun` job at a time in this test process: suites run in parallel, and concurrent
    /// Open MPI jobs on a 2-core machine starve each other (and share session directories).
    private static let mpirunLock = NSLock()

    /// Runs `mamfusion arguments…`, under `mpirun -np ranks` when `ranks` is given.
    public static func run(_ arguments: [String], ranks: Int? = nil, timeout: Double = 120,
                           environment extra: [String: String] = [:]) throws -> Output {
        if ranks != nil {
            mpirunLock.lock()
            defer { mpirunLock.unlock() }
            return try launch(arguments, ranks: ranks, timeout: timeout, environment: extra)
        }
        return try launch(arguments, ranks: nil, timeout: timeout, environment: extra)
    }

    private static func launch(_ arguments: [String], ranks: Int?, timeout: Double,
                               environment extra: [String: String]) throws -> Output {
        let process = Process()
        if let ranks {
            process.executableURL = URL(fileURLWithPath: try which("mpirun"))
            process.arguments = mpirunArguments(ranks: ranks) + [executable.path] + arguments
        } else {
            process.executableURL = executable
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
        for (k, v) in extra { env[k] = v }
        process.environment = env
        let outPipe = Pipe(), errPipe = Pipe()
        process.standardOutput = outPipe
        process.standardError = errPipe
        let start = Date()
        try process.run()
        // Drain both pipes concurrently so a chatty child never blocks on a full pipe.
        let outData = DataBox(), errData = DataBox()
        let group = DispatchGroup()
        for (pipe, box) in [(outPipe, outData), (errPipe, errData)] {
            group.enter()
            DispatchQueue.global().async {
                box.data = pipe.fileHandleForReading.readDataToEndOfFile()
                group.leave()
            }
        }
        var timedOut = false
        if group.wait(timeout: .now() + timeout) == .timedOut {
            timedOut = true
            process.terminate()
            _ = group.wait(timeout: .now() + 10)
        }
        process.waitUntilExit()
        return Output(status: process.terminationStatus,
                      stdout: String(decoding: outData.data, as: UTF8.self),
                      stderr: String(decoding: errData.data, as: UTF8.self),
                      timedOut: timedOut,
                      seconds: Date().timeIntervalSince(start))
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

private final class DataBox: @unchecked Sendable {
    var data = Data()
}
