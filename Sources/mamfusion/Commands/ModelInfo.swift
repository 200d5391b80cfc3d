import ArgumentParser
import CommandOptions
import Foundation
import MamFusion

/// `mamfusion model-info --config FILE`: every parameter tensor of the configuration's model
/// (reference name, PyTorch shape, count, initialisation kind, weight decay) and the totals.
struct ModelInfo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model-info",
        abstract: "Print the model's parameter tensors and totals for a configuration."
    )

    @OptionGroup var options: ConfigurationOptions

    func run() throws {
        let config = try options.resolve()
        let layout = config.parameterLayout
        let width = layout.specs.map(\.name.count).max() ?? 40
        print("\("name".padding(toLength: width, withPad: " ", startingAt: 0))  \("shape".padding(toLength: 12, withPad: " ", startingAt: 0)) \("count".leftPadded(10))  init / decay")
        for s in layout.specs {
            let decay = s.group == .unused ? "never updated" : (BertAdam.decays(s.name) ? "decay" : "no decay")
            print("\(s.name.padding(toLength: width, withPad: " ", startingAt: 0))  \(s.shapeDescription.padding(toLength: 12, withPad: " ", startingAt: 0)) \(String(s.count).leftPadded(10))  \(s.kind.rawValue) / \(decay)")
        }
        let unused = layout.specs.filter { $0.group == .unused }.reduce(0) { $0 + $1.count }
        print("model: \(layout.model) (\(config.modelType.displayName))")
        print("tensors: \(layout.specs.count)")
        print("parameters: \(layout.parameterCount.grouped) (trainable \((layout.parameterCount - unused).grouped)"
              + (unused > 0 ? ", never updated \(unused.grouped))" : ")"))
        print("groups (backward order): " + layout.groups.map { group in
            "\(group) \(layout.specs.filter { $0.group == group }.reduce(0) { $0 + $1.count }.grouped)"
        }.joined(separator: ", "))
        print(String(format: "flat buffer: %@ floats (%.1f MiB, 64-byte aligned tensors)", layout.bufferCount.grouped, Double(layout.bufferCount) * 4 / 1_048_576))
    }
}

extension String {
    func leftPadded(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}

extension Int {
    /// 18372480 → "18,372,480".
    var grouped: String {
        let digits = String(self.magnitude)
        var out = ""
        for (i, ch) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(ch)
        }
        return (self < 0 ? "-" : "") + out
    }
}
