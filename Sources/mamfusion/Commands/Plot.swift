import ArgumentParser
import Foundation
import Training

/// `mamfusion plot RUN_DIR`: RUN_DIR/metrics.svg (and metrics.png when rsvg-convert or
/// ImageMagick is installed) with the loss terms over steps and validation R@K/SumR over epochs.
struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Plot a run's loss terms and validation R@K as SVG (and PNG).")

    @Argument(help: "Run directory (holding metrics.jsonl).")
    var runDirectory: String

    func run() throws {
        let metrics = "\(runDirectory)/metrics.jsonl"
        guard FileManager.default.fileExists(atPath: metrics) else { throw ValidationError("no metrics.jsonl in \(runDirectory)") }
        let svg = try MetricsPlot.svg(metrics: metrics, title: "mamfusion run \(runDirectory)")
        let svgPath = "\(runDirectory)/metrics.svg"
        try svg.write(toFile: svgPath, atomically: true, encoding: .utf8)
        print("wrote \(svgPath)")
        let png = "\(runDirectory)/metrics.png"
        for (tool, arguments) in [("rsvg-convert", ["-o", png, svgPath]), ("convert", [svgPath, png])] {
            guard let path = Self.which(tool) else { continue }
            let p = Process()
            p.executableURL = URL(fileURLWithPath: path)
            p.arguments = arguments
            p.standardError = FileHandle.nullDevice
            try p.run()
            p.waitUntilExit()
            if p.terminationStatus == 0, FileManager.default.fileExists(atPath: png) {
                print("wrote \(png)")
                return
            }
        }
    }

    static func which(_ name: String) -> String? {
        (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
            .map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
