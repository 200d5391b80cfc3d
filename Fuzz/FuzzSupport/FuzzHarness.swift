import CFuzzDriver
#if canImport(Glibc)
import Glibc
#endif

/// The driver of every fuzz target (`Fuzz/Targets/*`): one property, checked on every input.
///
/// Built with `-sanitize=fuzzer,address` (Launch/fuzz), the target is a libFuzzer program: SwiftPM
/// links an executable with `--defsym main=<target>_main`, so the target's top-level code is
/// `main` and hands the property to `LLVMFuzzerRunDriver`, which takes libFuzzer's usual flags
/// and corpus directories. Built without the sanitizer (plain `swift build`), the same program
/// replays the files named on its command line (or standard input) through the property: a
/// reproducer for a crash file, without instrumentation.
///
/// A property reports a violation with `FuzzHarness.fail`, which aborts: libFuzzer then saves
/// the input as a crash artifact.
public enum FuzzHarness {
    nonisolated(unsafe) static var property: ((UnsafeBufferPointer<UInt8>) -> Void)?

    /// Runs `property` under libFuzzer, or over the files given as arguments. Never returns.
    public static func run(_ property: @escaping (UnsafeBufferPointer<UInt8>) -> Void) -> Never {
        Self.property = property
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        let callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32 = { data, size in
            FuzzHarness.property?(UnsafeBufferPointer(start: size == 0 ? nil : data, count: size))
            return 0
        }
        if mf_fuzzer_linked() != 0 {
            exit(mf_fuzzer_run(&argc, &argv, callback))
        }
        let files = CommandLine.arguments.dropFirst().filter { !$0.hasPrefix("-") }
        if files.isEmpty {
            var input: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let n = chunk.withUnsafeMutableBytes { Glibc.read(0, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                input += chunk[0..<n]
            }
            input.withUnsafeBufferPointer { property($0) }
            print("replayed standard input (\(input.count) bytes): property holds")
        } else {
            for file in files {
                guard let handle = fopen(file, "rb") else { fail("cannot open \(file)") }
                var input: [UInt8] = []
                var chunk = [UInt8](repeating: 0, count: 1 << 16)
                while true {
                    let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, handle) }
                    if n == 0 { break }
                    input += chunk[0..<n]
                }
                fclose(handle)
                input.withUnsafeBufferPointer { property($0) }
            }
            print("replayed \(files.count) file\(files.count == 1 ? "" : "s"): property holds")
        }
        exit(0)
    }

    /// A violated property: prints `message` and aborts (libFuzzer keeps the input).
    public static func fail(_ message: String) -> Never {
        let text = "fuzz property violated: \(message)\n"
        _ = text.withCString { write(2, $0, strlen($0)) }
        abort()
    }

    /// The longest error text a target accepts: errors quote excerpts, never whole inputs.
    public static let maximumErrorBytes = 1024

    /// Checks that an error's text is short (see `maximumErrorBytes`).
    public static func requireShort(_ error: any Error) {
        let text = "\(error)"
        if text.utf8.count > maximumErrorBytes {
            fail("error text of \(text.utf8.count) bytes: \(String(text.utf8.prefix(200)) ?? "")…")
        }
    }
}
