import Foundation
import InputFiles

/// Draws a run's `metrics.jsonl` (`RunRecord.read`) as one SVG: the weighted loss terms and the
/// total against the global step (left), and validation R@K and SumR against the epoch (right) — or
/// several runs overlaid on one figure (`comparisonSVG`: e.g. GMMFormer and MamFusion trained on
/// the same collection). Plain SVG, no dependencies; `mamfusion plot` converts it to PNG when a
/// converter is present.
public enum MetricsPlot {
    public struct Series {
        public let name: String
        public let points: [(x: Double, y: Double)]
        public let color: String
    }

    static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]

    /// The (x, y) points of `records` whose y is a finite number; nil when there are none.
    static func points<R>(_ records: [R], x: (R) -> Int, y: (R) -> Double?) -> [(x: Double, y: Double)]? {
        let points = records.compactMap { r -> (x: Double, y: Double)? in
            guard let v = y(r), v.isFinite else { return nil }
            return (Double(x(r)), v)
        }
        return points.isEmpty ? nil : points
    }

    /// Names in order of first appearance.
    static func ordered(_ names: [String]) -> [String] {
        var seen = Set<String>()
        return names.filter { seen.insert($0).inserted }
    }

    /// Whether a validation metric is a recall at K (`r1`, `t2v_r10`, …): the right panel's curves.
    static func isRecall(_ name: String) -> Bool {
        let last = name.split(separator: "_").last ?? ""
        return last.hasPrefix("r") && last.count > 1 && last.dropFirst().allSatisfy(\.isNumber)
    }

    /// A recall's direction prefix and K (`t2v_r10` → ("t2v", 10)), for the legend's order.
    static func recallKey(_ name: String) -> (String, Int) {
        let parts = name.split(separator: "_")
        return (parts.dropLast().joined(separator: "_"), Int(parts.last?.dropFirst() ?? "") ?? 0)
    }

    /// The SVG document for a run directory's metrics: the loss and each of its terms (whatever the
    /// model's head reports), and every recall the evaluator reports with SumR over their count.
    public static func svg(metrics path: String, title: String) throws -> String {
        let (steps, validations) = try RunRecord.read(path)
        let terms = ordered(steps.flatMap { $0.terms.terms.map(\.name) })
        let loss = ([("loss", { (r: StepRecord) in r.loss })] + terms.map { name in (name, { (r: StepRecord) in r.terms[name] }) })
            .enumerated().compactMap { i, curve in
                points(steps, x: \.step, y: curve.1).map { Series(name: curve.0, points: $0, color: palette[i % palette.count]) }
            }
        let recallNames = ordered(validations.flatMap { $0.metrics.map(\.name) }).filter(isRecall).sorted { a, b in
            let (pa, ka) = recallKey(a), (pb, kb) = recallKey(b)
            return pa != pb ? pa < pb : ka < kb
        }
        let recall = recallNames.enumerated().compactMap { i, name in
            points(validations, x: \.epoch, y: { $0[name] }).map { Series(name: name, points: $0, color: palette[i % palette.count]) }
        }
        let scale = Double(max(recallNames.count, 1))
        let sumR = points(validations, x: \.epoch, y: { $0.sumR / scale })
            .map { [Series(name: "SumR/\(Int(scale))", points: $0, color: "#000000")] } ?? []
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
            let (steps, validations) = try RunRecord.read(run.metrics)
            let color = palette[i % palette.count]
            if let p = points(steps, x: \.step, y: { $0.loss }) { loss.append(Series(name: run.label, points: p, color: color)) }
            if let p = points(validations, x: \.epoch, y: { $0.sumR }), let best = p.max(by: { $0.y < $1.y }) {
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
