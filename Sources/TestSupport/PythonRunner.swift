import Foundation
import Synchronization

/// Runs Python for the tests that check files against readers other than ours (numpy, h5py,
/// safetensors, PyTorch) and the project's Python tools (`Launch/convert-reference-checkpoint`,
/// `Tools/extract-clip-tokens`). The interpreter is `MAMFUSION_PYTHON` when set, else `python3`
/// on PATH; none of these modules is needed by CI, so a test that needs one is skipped —
/// visibly, with the missing module named — when the interpreter lacks it.
public enum PythonRunner {
    /// The interpreter tests use.
    public static var interpreter: String { ProcessInfo.processInfo.environment["MAMFUSION_PYTHON"] ?? "python3" }

    private static let cache = Mutex<[String: Bool]>([:])

    /// Whether the interpreter imports every module of `modules` (checked once per set).
    public static func has(_ modules: String...) -> Bool {
        let key = modules.joined(separator: ",")
        if let known = cache.withLock({ $0[key] }) { return known }
        let found = (try? run(["-c", "import " + key]).status == 0) ?? false
        cache.withLock { $0[key] = found }
        return found
    }

    /// Runs `interpreter arguments…` (through /usr/bin/env, so a bare name is looked up on PATH)
    /// with `stdin` as its standard input.
    public static func run(_ arguments: [String], stdin: String? = nil, environment extra: [String: String] = [:],
                           timeout: Double = 300) throws -> ToolRunner.Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [interpreter] + arguments
        var env = ProcessInfo.processInfo.environment
        for (k, v) in extra { env[k] = v }
        process.environment = env
        let outPipe = Pipe(), errPipe = Pipe(), inPipe = Pipe()
        process.standardOutput = outPipe
        process.standardError = errPipe
        process.standardInput = inPipe
        try process.run()
        let running = ToolRunner.Running(process: process, stdout: outPipe, stderr: errPipe)
        if let stdin { inPipe.fileHandleForWriting.write(Data(stdin.utf8)) }
        try? inPipe.fileHandleForWriting.close()
        return running.wait(timeout: timeout)
    }

    /// The repository's root (for its `Launch/` and `Tools/` scripts), found from the build
    /// directory the tests run in.
    public static var repository: URL {
        var dir = ToolRunner.buildDirectory
        while dir.path != "/" && !FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) {
            dir = dir.deletingLastPathComponent()
        }
        return dir
    }
}
