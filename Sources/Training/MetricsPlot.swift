import Foundation
import InputFiles

/// Draws a run's `metrics.jsonl` as one SVG: the weighted loss terms and the total against the
/// global step (left), and validation R@1/5/10/100 and SumR against the epoch (right; a
/// text–video model: t2v and v2t R@1/5/10 and RSum) — or
/// several runs overlaid on one figure (`comparisonSVG`: e.g. GMMFormer and MamFusion trained on
/// the same collection). Plain SVG, no dependencies; `mamfusion plot` converts it to PNG when a
/// converter is present.
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

    /// The (x, key) points of `records` that hold both as finite numbers; nil when there are none.
    static func points(_ records: [[String: Any]], x: String, key: String) -> [(x: Double, y: Double)]? {
        let points = records.compactMap { r -> (x: Double, y: Double)? in
            guard let xv = (r[x] as? NSNumber)?.doubleValue, let yv = (r[key] as? NSNumber)?.doubleValue, yv.isFinite else { return nil }
            return (xv, yv)
        }
        return points.isEmpty ? nil : points
    }

    /// The SVG document for a run directory's metrics.
    public static func svg(metrics path: String, title: String) throws -> String {
        let (steps, validations) = try read(path)
        /// One series per key the records hold, coloured in the order they are found.
        func series(_ records: [[String: Any]], x: String, keys: [String]) -> [Series] {
            let found = keys.compactMap { key in points(records, x: x, key: key).map { (key, $0) } }
            return found.enumerated().map { i, item in Series(name: item.0, points: item.1, color: palette[i % palette.count]) }
        }
        // The PRVR models' terms and R@K, or a text–video model's (MUSE: t2v and v2t, RSum of six).
        let loss = series(steps, x: "step", keys: ["loss", "clip_nce", "clip_trip", "frame_nce", "frame_trip", "qdl", "t2v", "v2t"])
        let textVideo = validations.contains { $0["t2v_r1"] != nil }
        let recall = series(validations, x: "epoch", keys: textVideo ? ["t2v_r1", "t2v_r5", "t2v_r10", "v2t_r1", "v2t_r5", "v2t_r10"]
                                                                     : ["r1", "r5", "r10", "r100"])
        let parts = textVideo ? 6.0 : 4.0
        let sumR = series(validations, x: "epoch", keys: ["sumr"]).map {
            Series(name: textVideo ? "RSum/6" : "SumR/4", points: $0.points.map { (x: $0.x, y: $0.y / parts) }, color: "#000000")
        }
        return figure(title: title,
                      left: panel(loss, x: 60, y: 50, width: 500, height: 370, xLabel: "global step", yLabel: "loss (weighted terms)"),
                      right: panel(recall + sumR, x: 660, y: 50, width: 500, height: 370, xLabel: "epoch", yLabel: "validation R@K (%)"))
    }

    /// Several runs on one figure, one colour per run: the total training loss against the global
    /// step (left) and validation SumR against the epoch (right); each run's legend entry gives
    /// its best SumR and epoch. `runs` pairs a legend label with a `metrics.jsonl` path.
    public static func comparisonSVG(runs: [(label: String, metrics: String)], title: String) throws -> String {
        var loss: [Series] = [], sumR: [Series] = []
        for (i, run) in runs.enumerated() {
            let (steps, validations) = try read(run.metrics)
            let color = palette[i % palette.count]
            if let p = points(steps, x: "step", key: "loss") { loss.append(Series(name: run.label, points: p, color: color)) }
            if let p = points(validations, x: "epoch", key: "sumr"), let best = p.max(by: { $0.y < $1.y }) {
                sumR.append(Series(name: "\(run.label) (best \(String(format: "%.1f", best.y)), epoch \(Int(best.x)))", points: p, color: color))
            }
        }
        return figure(title: title,
                      left: panel(loss, x: 60, y: 50, width: 500, height: 370, xLabel: "global step", yLabel: "training loss (total)"),
                      right: panel(sumR, x: 660, y: 50, width: 500, height: 370, xLabel: "epoch", yLabel: "validation SumR"))
    }

    /// The 1200×480 document around two panels.
    static func figure(title: String, left: String, right: String) -> String {
        var out = #"<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="480" font-family="sans-serif" font-size="12">"#
        out += #"<rect width="1200" height="480" fill="white"/>"#
        out += "<text x=\"600\" y=\"22\" text-anchor=\"middle\" font-size=\"16\">\(escape(title))</text>"
        return out + left + right + "</svg>\n"
    }

    static func panel(_ series: [Series], x: Double, y: Double, width: Double, height: Double, xLabel: String, yLabel: String) -> String {
        var out = "<rect x=\"\(x)\" y=\"\(y)\" width=\"\(width)\" height=\"\(height)\" fill=\"none\" stroke=\"#888\"/>"
        out += "<text x=\"\(x + width / 2)\" y=\"\(y + height + 35)\" text-anchor=\"middle\">\(xLabel)</text>"
        out += "<text transform=\"translate(\(x - 45),\(y + height / 2)) rotate(-90)\" text-anchor=\"middle\">\(yLabel)</text>"
        let all = series.flatMap(\.points)
        guard !all.isEmpty else {
            return out + "<text x=\"\(x + width / 2)\" y=\"\(y + height / 2)\" text-anchor=\"middle\" fill=\"#888\">no records yet</text>"
        }
        let xTicks = niceTicks(all.map(\.x).min()!, max(all.map(\.x).max()!, all.map(\.x).min()! + 1))
        let yTicks = niceTicks(min(all.map(\.y).min()!, 0), all.map(\.y).max()!)
        let x0 = xTicks.first!, x1 = xTicks.last!, y0 = yTicks.first!, y1 = yTicks.last!
        func px(_ v: Double) -> Double { x + (v - x0) / (x1 - x0) * width }
        func py(_ v: Double) -> Double { y + height - (v - y0) / (y1 - y0) * height }
        for v in yTicks {
            out += "<line x1=\"\(x)\" x2=\"\(x + width)\" y1=\"\(py(v))\" y2=\"\(py(v))\" stroke=\"#eee\"/>"
            out += "<text x=\"\(x - 5)\" y=\"\(py(v) + 4)\" text-anchor=\"end\">\(tickLabel(v))</text>"
        }
        for u in xTicks {
            out += "<text x=\"\(px(u))\" y=\"\(y + height + 16)\" text-anchor=\"middle\">\(tickLabel(u))</text>"
        }
        for s in series {
            let path = s.points.map { String(format: "%.1f,%.1f", px($0.x), py($0.y)) }.joined(separator: " ")
            out += "<polyline fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"1.5\" points=\"\(path)\"/>"
            if s.points.count == 1 { out += "<circle cx=\"\(px(s.points[0].x))\" cy=\"\(py(s.points[0].y))\" r=\"3\" fill=\"\(s.color)\"/>" }
        }
        // The legend goes in the corner its box hides the fewest points in (~7 px per character).
        let legendWidth = 25 + 7 * Double(series.map(\.name.count).max() ?? 0), legendHeight = 10 + 16 * Double(series.count)
        let pixels = series.flatMap { $0.points.map { (px($0.x), py($0.y)) } }
        let corners = [(x + width - legendWidth, y), (x + 5, y), (x + width - legendWidth, y + height - legendHeight),
                       (x + 5, y + height - legendHeight)]
        let (lx, ly) = corners.min { a, b in
            func hidden(_ c: (Double, Double)) -> Int {
                pixels.filter { $0.0 >= c.0 && $0.0 <= c.0 + legendWidth && $0.1 >= c.1 && $0.1 <= c.1 + legendHeight }.count
            }
            return hidden(a) < hidden(b)
        }!
        out += "<rect x=\"\(lx - 3)\" y=\"\(ly + 4)\" width=\"\(legendWidth - 2)\" height=\"\(legendHeight - 4)\" fill=\"white\" fill-opacity=\"0.8\"/>"
        for (i, s) in series.enumerated() {
            out += "<rect x=\"\(lx)\" y=\"\(ly + 10 + Double(i) * 16)\" width=\"10\" height=\"10\" fill=\"\(s.color)\"/>"
            out += "<text x=\"\(lx + 15)\" y=\"\(ly + 19 + Double(i) * 16)\">\(escape(s.name))</text>"
        }
        return out
    }

    /// Axis ticks at round values (1, 2 or 5 × 10^k apart, 4 to 8 intervals) covering [low, high];
    /// the first and last tick are the axis ends.
    static func niceTicks(_ low: Double, _ high: Double) -> [Double] {
        let span = max(high - low, 1e-12)
        let raw = span / 5, magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2.0, 5.0, 10.0].map { $0 * magnitude }.first { span / $0 <= 8 } ?? 10 * magnitude
        let first = floor(low / step) * step, last = ceil(high / step) * step
        return stride(from: first, through: last + step / 2, by: step).map { ($0 / step).rounded() * step }
    }

    /// A tick value without spurious digits (0.05, 1.5, 200, 1e+06).
    static func tickLabel(_ v: Double) -> String {
        if v == 0 { return "0" }
        if abs(v) >= 1e5 || abs(v) < 1e-3 { return String(format: "%.0e", v) }
        var text = String(format: "%.3f", v)
        while text.contains(".") && (text.hasSuffix("0") || text.hasSuffix(".")) { text.removeLast() }
        return text
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
