import Foundation
import InputFiles

/// One line of a run's `metrics.jsonl`: a training step or a validation. The one encoder (JSON
/// with sorted keys; TensorBoard scalars) and the one reader (`read`) of run records.
public enum RunRecord: Sendable, Equatable {
    case step(StepRecord)
    case validation(ValidationRecord)

    /// The record's `type` field.
    public var type: String {
        switch self {
        case .step: return "step"
        case .validation: return "validation"
        }
    }

    /// Its global step (the TensorBoard step).
    public var step: Int {
        switch self {
        case .step(let r): return r.step
        case .validation(let r): return r.step
        }
    }

    /// Every field, `type` first.
    public var values: [(key: String, value: RecordValue)] {
        let rest: [(key: String, value: RecordValue)]
        switch self {
        case .step(let r): rest = r.values
        case .validation(let r): rest = r.values
        }
        return [("type", .string(type))] + rest
    }

    /// One JSON object on one line, keys sorted (stable files).
    public var jsonLine: String {
        "{" + values.sorted { $0.key < $1.key }.map { "\(QuotedString.json($0.key)): \($0.value.json)" }.joined(separator: ", ") + "}"
    }

    /// Fields that index a record rather than measure something: not TensorBoard scalars.
    static let bookkeeping: Set<String> = ["type", "step", "epoch", "batch"]

    /// The numbers as TensorBoard scalars: `train/<key>` for a step, `validation/<key>`.
    public var scalars: [(tag: String, value: Double)] {
        let prefix = self.type == "step" ? "train" : self.type
        return values.sorted { $0.key < $1.key }.compactMap { field in
            guard !Self.bookkeeping.contains(field.key), let v = field.value.scalar else { return nil }
            return ("\(prefix)/\(field.key)", v)
        }
    }

    /// The record of one JSON line, nil for a line of another type.
    public init?(jsonLine line: Substring, file: String, lineNumber: Int) throws {
        guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw RunRecordsError("\(file):\(lineNumber): not a JSON object")
        }
        var values: [String: RecordValue] = [:]
        for (key, value) in object { if let v = RecordValue(json: value) { values[key] = v } }
        switch values["type"] {
        case .string("step")?: self = .step(StepRecord(values: values))
        case .string("validation")?: self = .validation(ValidationRecord(values: values))
        default: return nil
        }
    }

    /// The step and validation records of a metrics file (a regular file: `InputFile`), in file order.
    public static func read(_ path: String) throws -> (steps: [StepRecord], validations: [ValidationRecord]) {
        let text = String(decoding: try InputFile.readAll(path, what: "a metrics file"), as: UTF8.self)
        var steps: [StepRecord] = [], validations: [ValidationRecord] = []
        for (n, line) in text.split(separator: "\n").enumerated() {
            switch try RunRecord(jsonLine: line, file: path, lineNumber: n + 1) {
            case .step(let r)?: steps.append(r)
            case .validation(let r)?: validations.append(r)
            case nil: continue
            }
        }
        return (steps, validations)
    }
}
