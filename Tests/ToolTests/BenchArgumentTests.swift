import TestSupport
import Testing

/// The bench commands check their arguments before they measure anything: a count of zero, an
/// empty or malformed list or range is a usage error (exit 64) naming the option — never a crash
/// in the middle of a measurement.
struct BenchArgumentTests {
    @Test("bad bench arguments are usage errors naming the option", arguments: [
        (["bench", "model", "--videos", "0"], "--videos"),
        (["bench", "model", "--videos", "16,,32"], "--videos"),
        (["bench", "model", "--videos", "sixteen"], "--videos"),
        (["bench", "model", "--steps", "0"], "--steps"),
        (["bench", "model", "--captions", "0"], "--captions"),
        (["bench", "model", "--frames", "64..32"], "--frames"),
        (["bench", "model", "--frames", "32-64"], "--frames"),
        (["bench", "train", "--ranks", "0,2"], "--ranks"),
        (["bench", "train", "--steps", "0"], "--steps"),
        (["bench", "train", "--videos", ""], "--videos"),
        (["bench", "train", "--network-gbits", "0"], "--network-gbits"),
        (["bench", "kernels", "--repeats", "0"], "--repeats"),
        (["bench", "sgemm", "0", "8", "8"], "M"),
        (["bench", "eval", "--videos", "4", "--queries", "4", "--repeats", "0"], "--repeats"),
        (["doctor", "--sizes", "1,x"], "--sizes"),
    ])
    func refused(arguments: [String], option: String) throws {
        let out = try ToolRunner.run(arguments, timeout: 30)
        #expect(!out.timedOut && out.status == 64, "\(arguments): exit \(out.status), stderr \(out.stderr)")
        #expect(out.stderr.contains(option), "\(arguments): \(out.stderr)")
    }
}
