import FeatureData
import FuzzSupport

// Caption files (`CaptionFile.parse`): any bytes give captions or a `FeatureDataError` naming
// the file, with a short text; every caption returned is well formed.
FuzzHarness.run { input in
    do {
        let captions = try CaptionFile.parse(Array(input), file: "fuzz.caption.txt")
        if captions.isEmpty { FuzzHarness.fail("no captions returned without an error") }
        var seen = Set<String>()
        for c in captions {
            // Bytes, not Characters: a combining mark after '#' would join it in one grapheme.
            if c.videoID.isEmpty || !c.capID.utf8.starts(with: (c.videoID + "#").utf8) { FuzzHarness.fail("malformed caption accepted: \(c)") }
            if !seen.insert(c.capID).inserted { FuzzHarness.fail("duplicate cap_id accepted: \(c.capID)") }
        }
    } catch let error as FeatureDataError {
        if error.file != "fuzz.caption.txt" { FuzzHarness.fail("error names another file: \(error)") }
        FuzzHarness.requireShort(error)
    } catch {
        FuzzHarness.fail("unexpected error type: \(error)")
    }
}
