import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Flushes standard output (lines from several ranks are ordered by barriers between flushes).
func fflushStdout() { fflush(nil) }

/// Prints one JSON object on one line (keys sorted): the `--json` output of `bench` and `eval`,
/// for scripts that compare runs. Non-finite numbers become null (JSON has no NaN).
func printJSONObject(_ object: [String: Any]) throws {
    let clean = object.mapValues { value -> Any in
        if let x = value as? Double, !x.isFinite { return NSNull() }
        return value
    }
    let data = try JSONSerialization.data(withJSONObject: clean, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
    fflush(nil)
}
