#if canImport(Glibc)
import Glibc
#endif
import Foundation
import TensorKit

/// A progress bar on standard error for long jobs (conversion, verification, generation,
/// encoding for evaluation): percentage, amount (bytes, or items such as videos), rate and ETA. On a terminal it redraws one line (at most 5 times a
/// second); otherwise (logs, CI) it prints a line every 10 % of the work once a job
/// has run for 2 s.
final class ProgressBar {
    private let label: String
    private let start = MonotonicClock.now()
    private var lastDraw = -1.0
    private var lastDecile = -1
    private let interactive = isatty(2) != 0
    private var finished = false
    private let unit: Unit

    /// What the amounts count.
    enum Unit {
        case bytes
        /// Items, named in the plural ("videos").
        case items(String)
    }

    init(_ label: String, unit: Unit = .bytes) {
        self.label = label
        self.unit = unit
    }

    /// Reports `done` of `total` (bytes or items).
    func update(_ done: Int, _ total: Int) {
        let now = MonotonicClock.now()
        let fraction = total > 0 ? min(1, Double(done) / Double(total)) : 1
        if interactive {
            guard now - lastDraw >= 0.2 || done >= total else { return }
            lastDraw = now
            write("\r" + line(done, total, fraction, now) + "\u{1B}[K")
        } else {
            // Logs get a line per 10 % of a job that runs long enough to need one.
            let decile = Int(fraction * 10)
            guard decile > lastDecile, now - start >= 2 else { return }
            lastDecile = decile
            write(line(done, total, fraction, now) + "\n")
        }
    }

    /// Ends the bar (a newline on a terminal) and returns the elapsed seconds.
    @discardableResult
    func finish() -> Double {
        if interactive && !finished && lastDraw >= 0 { write("\n") }
        finished = true
        return MonotonicClock.now() - start
    }

    private func line(_ done: Int, _ total: Int, _ fraction: Double, _ now: Double) -> String {
        let width = 28
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let elapsed = now - start
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let eta = rate > 0 && total > done ? Double(total - done) / rate : 0
        switch unit {
        case .bytes:
            return "\(label) [\(bar)] \(Self.percent(fraction)) \(Self.bytes(done))/\(Self.bytes(total)) \(Self.bytes(Int(rate)))/s ETA \(Self.clock(eta))"
        case .items(let name):
            return "\(label) [\(bar)] \(Self.percent(fraction)) \(done)/\(total) \(name) \(String(format: "%.1f", rate))/s ETA \(Self.clock(eta))"
        }
    }

    static func percent(_ f: Double) -> String { String(format: "%5.1f%%", f * 100) }

    static func bytes(_ n: Int) -> String {
        let units = ["B", "KB", "MB", "GB", "TB"]
        var value = Double(n), unit = 0
        while value >= 1000 && unit < units.count - 1 { value /= 1000; unit += 1 }
        return unit == 0 ? "\(n) B" : String(format: "%.1f %@", value, units[unit])
    }

    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
