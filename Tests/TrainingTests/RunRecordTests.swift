import Foundation
import MamFusion
import Testing
@testable import Training

/// The run records have one definition (`StepRecord`, `ValidationRecord`): the README's field list
/// is that definition, and a written record reads back as itself.
struct RunRecordTests {
    static var readme: String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return (try? String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)) ?? ""
    }

    @Test("the README lists every field of the step and validation records, with the meaning the record type gives it")
    func readmeListsTheFields() {
        let readme = Self.readme
        for (key, meaning) in StepRecord.fields.map({ ($0.key, $0.meaning) }) + ValidationRecord.fields.map({ ($0.key, $0.meaning) }) {
            #expect(readme.contains("- `\(key)`: \(meaning);"), "README lacks '- `\(key)`: \(meaning);'")
        }
        for key in StepRecord.dynamicKeys + ValidationRecord.dynamicKeys { #expect(readme.contains("`\(key)`"), "README lacks `\(key)`") }
    }

    @Test("a step record with terms and group leads, and a validation record, read back from their JSON lines as themselves")
    func roundTrip() throws {
        var step = StepRecord()
        (step.step, step.epoch, step.batch, step.videos, step.queries, step.loss) = (7, 1, 2, 5, 11, 1.75)
        (step.seconds, step.compute, step.headMaxRank, step.microBatch, step.bytesSent) = (0.5, 0.375, 0.125, 2, 4096)
        step.terms = PRVRLossTerms.terms(clipNCE: 0.5, clipTriplet: 0.25, frameNCE: 0.5, frameTriplet: 0.25, queryDiverse: 0.25)
        step.groupLead = [.query: 0.0, .frame: 0.25]
        var validation = ValidationRecord()
        (validation.step, validation.epoch, validation.sumR, validation.bestSumR) = (7, 1, 150.5, 151)
        validation.metrics = [("mean_rank", 3.5), ("r1", 25)]
        for record in [RunRecord.step(step), .validation(validation)] {
            let line = record.jsonLine
            #expect(try RunRecord(jsonLine: Substring(line), file: "test", lineNumber: 1) == record, "\(line)")
        }
        #expect(RunRecord.step(step).jsonLine.contains("\"loss_terms\": \"clip_nce,clip_trip,frame_nce,frame_trip,qdl\""))
    }
}
