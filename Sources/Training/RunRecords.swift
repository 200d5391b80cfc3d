import Foundation
import InputFiles
import TensorKit

/// The run directory's records (rank 0 writes them): `config.yaml` (the resolved configuration),
/// `metrics.jsonl` (one JSON object per step and per validation), the same numbers as
/// TensorBoard scalars (`events.out.tfevents.*`: `train/<field>` per step, `validation/<field>`
/// per validation) and `checkpoints/`.
public final class RunRecords {
    public let directory: String
    private let metrics: FileHandle?
    private let events: TensorBoardEvents?

    public init(directory: String, configurationYAML: String, writes: Bool, append: Bool) throws {
        self.directory = directory
        guard writes else { metrics = nil; events = nil; return }
        let fm = FileManager.default
        try fm.createDirectory(atPath: "\(directory)/checkpoints", withIntermediateDirectories: true)
        try AtomicPublish.write(Array(configurationYAML.utf8), to: "\(directory)/config.yaml")
        let path = "\(directory)/metrics.jsonl"
        if (!append || !fm.fileExists(atPath: path)) && !fm.createFile(atPath: path, contents: nil) {
            throw RunRecordsError("cannot create \(path)")
        }
        guard let handle = FileHandle(forWritingAtPath: path) else { throw RunRecordsError("cannot open \(path) for writing") }
        handle.seekToEndOfFile()
        metrics = handle
        events = try TensorBoardEvents(directory: directory)
    }

    public var checkpointDirectory: String { "\(directory)/checkpoints" }
    public var latestCheckpoint: String { "\(checkpointDirectory)/latest.h5" }
    public var bestCheckpoint: String { "\(checkpointDirectory)/best.h5" }

    /// Appends one JSON object (keys sorted for stable files), and its numbers as TensorBoard
    /// scalars at its step (a failed event write is reported once and the run goes on: the
    /// JSON records stay complete).
    public func record(_ fields: [String: JSONValue]) {
        guard let metrics else { return }
        let line = "{" + fields.keys.sorted().map { "\"\($0)\": \(fields[$0]!.json)" }.joined(separator: ", ") + "}\n"
        metrics.write(Data(line.utf8))
        guard let events, !eventsFailed, case .string(let type)? = fields["type"], case .int(let step)? = fields["step"] else { return }
        let prefix = type == "step" ? "train" : type
        let scalars: [(tag: String, value: Double)] = fields.keys.sorted().compactMap { key in
            guard !Self.bookkeeping.contains(key) else { return nil }
            switch fields[key]! {
            case .int(let v): return ("\(prefix)/\(key)", Double(v))
            case .double(let v): return v.isFinite ? ("\(prefix)/\(key)", v) : nil
            case .string: return nil
            }
        }
        do { try events.add(scalars: scalars, step: step) } catch {
            eventsFailed = true
            FileHandle.standardError.write(Data("mamfusion: \(error); TensorBoard events stop here, metrics.jsonl goes on\n".utf8))
        }
    }

    /// Fields that index a record rather than measure something.
    static let bookkeeping: Set<String> = ["type", "step", "epoch", "batch"]
    private var eventsFailed = false

    deinit { try? metrics?.close() }
}

/// A JSON scalar for the metrics records.
public enum JSONValue: Sendable, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral, ExpressibleByStringLiteral {
    case int(Int), double(Double), string(String)
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }

    public var json: String {
        switch self {
        case .int(let v): return String(v)
        case .double(let v): return v.isFinite ? "\(v)" : "null"
        case .string(let s): return QuotedString.json(s)
        }
    }
}

/// A run directory's records cannot be written.
public struct RunRecordsError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
