import Foundation
import InputFiles
import TensorKit

/// The run directory's records (rank 0 writes them): `config.yaml` (the resolved configuration),
/// `metrics.jsonl` (one `RunRecord` per step and per validation, as a JSON line), the same numbers
/// as TensorBoard scalars (`events.out.tfevents.*`: `train/<field>` per step, `validation/<field>`
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

    /// Appends one record as a JSON line (`RunRecord.jsonLine`), and its numbers as TensorBoard
    /// scalars at its step (a failed event write is reported once and the run goes on: the JSON
    /// records stay complete).
    public func record(_ record: RunRecord) {
        guard let metrics else { return }
        metrics.write(Data((record.jsonLine + "\n").utf8))
        guard let events, !eventsFailed else { return }
        do { try events.add(scalars: record.scalars, step: record.step) } catch {
            eventsFailed = true
            FileHandle.standardError.write(Data("mamfusion: \(error); TensorBoard events stop here, metrics.jsonl goes on\n".utf8))
        }
    }

    private var eventsFailed = false

    deinit { try? metrics?.close() }
}

/// A run directory's records cannot be written or read.
public struct RunRecordsError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
