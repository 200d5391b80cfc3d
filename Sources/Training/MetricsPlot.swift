import Foundation
import InputFiles

/// Draws a run's `metrics.jsonl` as one SVG: the weighted loss terms and the total against the
/// global step (left), and validation R@1/5/10/100 and SumR against the epoch (right).
/// Plain SVG, no dependencies; `mamfusion plot` converts it to PNG when a converter is present.
public enum MetricsPlot {
    public struct Series {
        public let name: String
        public let points: [(x: Double, y: Double)]
        public let color: String
    }

    /// Reads the step and validation records of a metrics file (a regular file: `InputFile`).
    public static func read(_ path: String) throws -> (steps: [[String: Any]], validations: [[String: Any]]) {
        let text = String(decoding: try InputFile.readAll(path, what: "a metrics file"), as: UTF8.self)
        var steps: [[String: Any]] = [], validations: [[String: Any]] = []
        for (n, line) in text.split(separator: "\n").enumerated() {
            guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                throw CocoaError(.fileReadCorruptFile, userInfo: [NSLocalizedDescriptionKey: "\(path):\(n + 1): not a JSON object"])
            }
            switch object["type"] as? String {
            case "step": steps.append(object)
            case "validation": validations.append(object)
            default: continue
            }
        }
        return (steps, validations)
    }

    static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]

    /// The SVG document for a run directory's metrics.
    public static func svg(metrics path: String, title: String) throws -> String {
        let (steps, validations) = try read(path)
        func series(_ records: [[String: Any]], x: String, keys: [String]) -> [Series] {
            keys.enumerated().compactMap { i, key in
                let points = records.compactMap { r -> (Double, Double)? in
                    guard let xv = (r[x] as? NSNumber)?.doubleValue, let yv = (r[key] as? NSNumber)?.doubleValue, yv.isFinite else { return nil }
                    return (xv, yv)
                }
                return points.isEmpty ? nil : Series(name: key, points: points.map { (x: $0.0, y: $0.1) }, color: palette[i % palette.count])
            }
        }
        let loss = series(steps, x: "step", keys: ["loss", "clip_nce", "clip_trip", "frame_nce", "frame_trip", "qdl"])
        let recall = series(validations, x: "epoch", keys: ["r1", "r5", "r10", "r100"])
        let sumR = series(validations, x: "epoch", keys: ["sumr"])
        var out = #"<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="480" font-family="sans-serif" font-size="12">"#
        out += #"<rect width="1200" height="480" fill="white"/>"#
        out += "<text x=\"600\" y=\"22\" text-anchor=\"middle\" font-size=\"16\">\(escape(title))</text>"
        out += panel(loss, x: 60, y: 50, width: 500, height: 370, xLabel: "global step", yLabel: "loss (weighted terms)")
        out += panel(recall + sumR.map { Series(name: "SumR/4", points: $0.points.map { (x: $0.x, y: $0.y / 4) }, color: "#000000") },
                     x: 660, y: 50, width: 500, height: 370, xLabel: "epoch", yLabel: "validation R@K (%)")
        return out + "</svg>\n"
    }

    static func panel(_ series: [Series], x: Double, y: Double, width: Double, height: Double, xLabel: String, yLabel: String) -> String {
        var out = "<rect x=\"\(x)\" y=\"\(y)\" width=\"\(width)\" height=\"\(height)\" fill=\"none\" stroke=\"#888\"/>"
        out += "<text x=\"\(x + width / 2)\" y=\"\(y + height + 35)\" text-anchor=\"middle\">\(xLabel)</text>"
        out += "<text transform=\"translate(\(x - 45),\(y + height / 2)) rotate(-90)\" text-anchor=\"middle\">\(yLabel)</text>"
        let all = series.flatMap(\.points)
        guard !all.isEmpty else {
            return out + "<text x=\"\(x + width / 2)\" y=\"\(y + height / 2)\" text-anchor=\"middle\" fill=\"#888\">no records yet</text>"
        }
        let x0 = all.map(\.x).min()!, x1 = max(all.map(\.x).max()!, x0 + 1)
        let y0 = min(all.map(\.y).min()!, 0), y1 = max(all.map(\.y).max()!, y0 + 1e-9)
        func px(_ v: Double) -> Double { x + (v - x0) / (x1 - x0) * width }
        func py(_ v: Double) -> Double { y + height - (v - y0) / (y1 - y0) * height }
        for k in 0...4 {
            let v = y0 + (y1 - y0) * Double(k) / 4
            out += "<line x1=\"\(x)\" x2=\"\(x + width)\" y1=\"\(py(v))\" y2=\"\(py(v))\" stroke=\"#eee\"/>"
            out += "<text x=\"\(x - 5)\" y=\"\(py(v) + 4)\" text-anchor=\"end\">\(String(format: "%.3g", v))</text>"
            let u = x0 + (x1 - x0) * Double(k) / 4
            out += "<text x=\"\(px(u))\" y=\"\(y + height + 16)\" text-anchor=\"middle\">\(String(format: "%.0f", u))</text>"
        }
        for (i, s) in series.enumerated() {
            let path = s.points.map { String(format: "%.1f,%.1f", px($0.x), py($0.y)) }.joined(separator: " ")
            out += "<polyline fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"1.5\" points=\"\(path)\"/>"
            if s.points.count == 1 { out += "<circle cx=\"\(px(s.points[0].x))\" cy=\"\(py(s.points[0].y))\" r=\"3\" fill=\"\(s.color)\"/>" }
            out += "<rect x=\"\(x + width - 110)\" y=\"\(y + 10 + Double(i) * 16)\" width=\"10\" height=\"10\" fill=\"\(s.color)\"/>"
            out += "<text x=\"\(x + width - 95)\" y=\"\(y + 19 + Double(i) * 16)\">\(escape(s.name))</text>"
        }
        return out
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
