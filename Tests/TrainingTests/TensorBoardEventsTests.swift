import Foundation
import TestSupport
import Testing
import MamFusion
@testable import Training

/// A run directory opens in TensorBoard: the event file's records are checked with a reader
/// written here from the TFRecord and protocol-buffer specifications (and, when the `tensorboard`
/// Python package is installed, with TensorBoard's own event reader).
struct TensorBoardEventsTests {
    /// CRC-32C bit by bit (no table): an independent check of the writer's table-driven one.
    static func crc32c(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = (c >> 1) ^ (c & 1 == 1 ? 0x82F6_3B78 : 0) }
        }
        return ~c
    }

    static func masked(_ bytes: [UInt8]) -> UInt32 { let c = crc32c(bytes); return ((c >> 15) | (c << 17)) &+ 0xA282_EAD8 }

    struct Event { var wallTime = 0.0, step = 0, fileVersion: String?, scalars: [String: Float] = [:] }

    /// Reads every record of an event file, checking both CRCs, and decodes the events.
    static func read(_ path: String) throws -> [Event] {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        var at = 0, events: [Event] = []
        func u32(_ i: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[i + $1]) << (8 * $1) } }
        while at < bytes.count {
            let lengthBytes = Array(bytes[at..<at + 8])
            let length = Int((0..<8).reduce(UInt64(0)) { $0 | UInt64(lengthBytes[$1]) << (8 * UInt64($1)) })
            #expect(u32(at + 8) == masked(lengthBytes), "length CRC at byte \(at)")
            let data = Array(bytes[at + 12..<at + 12 + length])
            #expect(u32(at + 12 + length) == masked(data), "data CRC at byte \(at)")
            events.append(try decodeEvent(data))
            at += 16 + length
        }
        return events
    }

    struct Wire { let bytes: [UInt8]; var at = 0
        mutating func varint() -> UInt64 { var v: UInt64 = 0, s: UInt64 = 0; while true { let b = bytes[at]; at += 1; v |= UInt64(b & 0x7F) << s; if b < 0x80 { return v }; s += 7 } }
        mutating func fixed(_ n: Int) -> UInt64 { defer { at += n }; return (0..<n).reduce(UInt64(0)) { $0 | UInt64(bytes[at + $1]) << (8 * UInt64($1)) } }
        mutating func field() -> (Int, UInt64)? { guard at < bytes.count else { return nil }; let k = varint(); return (Int(k >> 3), k & 7) }
        mutating func chunk() -> [UInt8] { let n = Int(varint()); defer { at += n }; return Array(bytes[at..<at + n]) }
    }

    static func decodeEvent(_ data: [UInt8]) throws -> Event {
        var w = Wire(bytes: data), e = Event()
        while let (field, type) = w.field() {
            switch (field, type) {
            case (1, 1): e.wallTime = Double(bitPattern: w.fixed(8))
            case (2, 0): e.step = Int(Int64(bitPattern: w.varint()))
            case (3, 2): e.fileVersion = String(decoding: w.chunk(), as: UTF8.self)
            case (5, 2):
                var summary = Wire(bytes: w.chunk())
                while let (f, t) = summary.field() {
                    try #require(f == 1 && t == 2)
                    var value = Wire(bytes: summary.chunk()), tag = "", number: Float = .nan
                    while let (vf, vt) = value.field() {
                        if vf == 1 && vt == 2 { tag = String(decoding: value.chunk(), as: UTF8.self) }
                        else if vf == 2 && vt == 5 { number = Float(bitPattern: UInt32(value.fixed(4))) }
                        else { Issue.record("unexpected Value field \(vf)/\(vt)") }
                    }
                    e.scalars[tag] = number
                }
            default: Issue.record("unexpected Event field \(field)/\(type)")
            }
        }
        return e
    }

    @Test("CRC-32C matches its check value and the bitwise definition")
    func crc() {
        #expect(TensorBoardEvents.crc32c(Array("123456789".utf8)) == 0xE306_9283)
        for n in [0, 1, 7, 100] {
            let bytes = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            #expect(TensorBoardEvents.maskedCRC(bytes) == Self.masked(bytes))
        }
    }

    @Test("a run's step and validation records become TensorBoard scalars at their steps")
    func runRecordsWriteEvents() throws {
        try withTemporaryDirectory { dir in
            let records = try RunRecords(directory: dir, configurationYAML: "seed: 1\n", writes: true, append: false)
            var first = StepRecord(), second = StepRecord(), validation = ValidationRecord()
            (first.step, first.loss, first.learningRate, first.seconds) = (1, 2.5, 0.0004, 1.25)
            first.terms = LossTerms([LossTerms.Term("clip_nce", 0.75)])
            (second.step, second.batch, second.loss, second.learningRate, second.seconds) = (2, 1, 2.0, 0.00045, 1.0)
            second.groupLead = ["frame": 0.5]
            (validation.step, validation.sumR, validation.metrics) = (2, 150.25, [("r1", 12.5)])
            for record in [RunRecord.step(first), .step(second), .validation(validation)] { records.record(record) }
            let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains("tfevents") }
            try #require(files.count == 1)
            let events = try Self.read("\(dir)/\(files[0])")
            try #require(events.count == 4)
            #expect(events[0].fileVersion == "brain.Event:2")
            // Every number but the bookkeeping (step, epoch, batch): the record's fields and terms.
            let expected = Set(StepRecord.fields.map { "train/\($0.key)" }).subtracting(["train/step", "train/epoch", "train/batch"])
            #expect(events[1].step == 1 && Set(events[1].scalars.keys) == expected.union(["train/clip_nce"]), "\(events[1].scalars.keys.sorted())")
            #expect(events[1].scalars["train/loss"] == 2.5 && events[1].scalars["train/lr"] == 0.0004 && events[1].scalars["train/clip_nce"] == 0.75)
            #expect(events[2].step == 2 && events[2].scalars["train/loss"] == 2.0 && events[2].scalars["train/allreduce_lead_frame_s"] == 0.5)
            #expect(events[3].step == 2 && events[3].scalars == ["validation/r1": 12.5, "validation/sumr": 150.25, "validation/best_sumr": 0])

            // The JSON lines read back into the same records.
            let (steps, validations) = try RunRecord.read("\(dir)/metrics.jsonl")
            #expect(steps == [first, second] && validations == [validation])
            #expect(events.allSatisfy { $0.wallTime > 1.6e9 })

            // TensorBoard's own reader, when it is installed.
            let script = """
            import sys
            try:
                from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
            except ImportError:
                print("skip"); sys.exit(0)
            a = EventAccumulator(sys.argv[1]); a.Reload()
            for tag in sorted(a.Tags()["scalars"]):
                for e in a.Scalars(tag): print(tag, e.step, repr(e.value))
            """
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", "-c", script, dir]
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = Pipe()
            try process.run()
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            if output.hasPrefix("skip") || process.terminationStatus != 0 {
                print("TensorBoard's reader is not installed: checked with this test's reader only")
            } else {
                #expect(output.contains("train/loss 1 2.5") && output.contains("train/loss 2 2.0") && output.contains("validation/sumr 2 150.25"), "\(output)")
            }
        }
    }
}
