import Foundation
import InputFiles

/// A value of a run record field: what `metrics.jsonl` holds (JSON number or string) and, for the
/// numbers, what TensorBoard shows.
public enum RecordValue: Sendable, Equatable {
    case int(Int), double(Double), string(String)

    /// The value as JSON: integers and finite doubles as numbers, non-finite doubles as null,
    /// strings quoted (`QuotedString.json`).
    public var json: String {
        switch self {
        case .int(let v): return String(v)
        case .double(let v): return v.isFinite ? "\(v)" : "null"
        case .string(let s): return QuotedString.json(s)
        }
    }

    /// The value as a TensorBoard scalar (strings and non-finite numbers have none).
    public var scalar: Double? {
        switch self {
        case .int(let v): return Double(v)
        case .double(let v): return v.isFinite ? v : nil
        case .string: return nil
        }
    }

    /// A value read back from JSON (`JSONSerialization`): a string, a number (as a double; an
    /// integer field reads it back exactly), or nil for null.
    init?(json value: Any) {
        if let s = value as? String { self = .string(s); return }
        guard let n = value as? NSNumber else { return nil }
        self = .double(n.doubleValue)
    }

    var number: Double? {
        switch self {
        case .int(let v): return Double(v)
        case .double(let v): return v
        case .string: return nil
        }
    }
}

/// One fixed field of a record type: its JSON key, what it means (the README's field list is
/// checked against these), and how the record's property is written and read back.
public struct RecordField<Record>: Sendable {
    public let key: String
    public let meaning: String
    let write: @Sendable (Record) -> RecordValue
    let read: @Sendable (inout Record, RecordValue) -> Void

    /// An integer property.
    static func int(_ key: String, _ meaning: String, _ path: WritableKeyPath<Record, Int> & Sendable) -> RecordField {
        RecordField(key: key, meaning: meaning, write: { .int($0[keyPath: path]) },
                    read: { record, value in if let x = value.number, let i = Int(exactly: x.rounded()) { record[keyPath: path] = i } })
    }

    /// A real-valued property (seconds, a loss, a rate).
    static func double(_ key: String, _ meaning: String, _ path: WritableKeyPath<Record, Double> & Sendable) -> RecordField {
        RecordField(key: key, meaning: meaning, write: { .double($0[keyPath: path]) },
                    read: { record, value in if let x = value.number { record[keyPath: path] = x } })
    }
}
