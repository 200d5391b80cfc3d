import ArgumentParser
import Foundation
import MamFusion
import Training

/// `mamfusion plot RUN_DIR`: RUN_DIR/metrics.svg (and metrics.png when rsvg-convert or
/// ImageMagick is installed) with the loss terms over steps and validation R@K/SumR over epochs.
///
/// `mamfusion plot RUN_A RUN_B … [--labels a,b,…] [--out FILE.svg]`: the runs overlaid on one
/// figure (total loss over steps, validation SumR over epochs, one colour per run) — e.g. the
/// GMMFormer baseline and MamFusion trained on the same collection.
struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Plot a run's loss terms and validation R@K as SVG (and PNG), or overlay several runs on one figure.")

    @Argument(help: "Run directories (each holding metrics.jsonl); two or more are overlaid.")
    var runDirectories: [String]

    @Option(help: "Legend labels of the runs, comma-separated, in the order of the directories (default: each run's directory name and model).")
    var labels: String?

    @Option(help: "SVG file to write (default: RUN_DIR/metrics.svg for one run, comparison.svg for several); a PNG is written next to it when a converter is installed.")
    var out: String?

    func validate() throws {
        guard !runDirectories.isEmpty else { throw ValidationError("give at least one run directory") }
        if let labels, labels.split(separator: ",", omittingEmptySubsequences: false).count != runDirectories.count {
            throw ValidationError("--labels has \(labels.split(separator: ",", omittingEmptySubsequences: false).count) labels for \(runDirectories.count) run directories")
        }
    }

    func run() throws {
        for directory in runDirectories where !FileManager.default.fileExists(atPath: "\(directory)/metrics.jsonl") {
            throw ValidationError("no metrics.jsonl in \(directory)")
        }
        let svgPath: String, svg: String
        if runDirectories.count == 1 {
            let directory = runDirectories[0]
            svgPath = out ?? "\(directory)/metrics.svg"
            svg = try MetricsPlot.svg(metrics: "\(directory)/metrics.jsonl", title: "mamfusion run \(labels ?? directory)")
        } else {
            let names = labels.map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
                ?? runDirectories.map(Self.defaultLabel)
            svgPath = out ?? "comparison.svg"
            svg = try MetricsPlot.comparisonSVG(runs: zip(names, runDirectories).map { (label: $0, metrics: "\($1)/metrics.jsonl") },
                                                title: "mamfusion runs: " + names.joined(separator: " vs "))
        }
        try svg.write(toFile: svgPath, atomically: true, encoding: .utf8)
        print("wrote \(svgPath)")
        let png = (svgPath.hasSuffix(".svg") ? String(svgPath.dropLast(4)) : svgPath) + ".png"
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
        print("no PNG: neither rsvg-convert (Debian's librsvg2-bin, which Launch/setup installs) nor ImageMagick's convert is installed")
    }

    /// The directory's last component, with the model of its `config.yaml` when it has one.
    static func defaultLabel(_ directory: String) -> String {
        let name = URL(fileURLWithPath: directory).lastPathComponent
        guard let yaml = try? String(contentsOfFile: "\(directory)/config.yaml", encoding: .utf8),
              let model = (try? RunConfiguration.parse(yaml: yaml))?.model else { return name }
        return name.contains(model) ? name : "\(name) (\(model))"
    }

    static func which(_ name: String) -> String? {
        (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
            .map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
