import FeatureData
import FuzzSupport

// `video2frames.txt` dict literals (`VideoFramesLiteral.parse`): any bytes give entries or a
// `FeatureDataError` with a short text; what parses renders back (`render`) to a literal that
// parses to the same entries.
FuzzHarness.run { input in
    let entries: [VideoFrameList]
    do {
        entries = try VideoFramesLiteral.parse(Array(input), file: "fuzz.video2frames.txt")
    } catch let error as FeatureDataError {
        if error.file != "fuzz.video2frames.txt" { FuzzHarness.fail("error names another file: \(error)") }
        FuzzHarness.requireShort(error)
        return
    } catch {
        FuzzHarness.fail("unexpected error type: \(error)")
    }
    let rendered = VideoFramesLiteral.render(entries.map { ($0.videoID, $0.frameIDs) })
    do {
        let again = try VideoFramesLiteral.parse(Array(rendered.utf8), file: "rendered")
        if again.map(\.videoID) != entries.map(\.videoID) || again.map(\.frameIDs) != entries.map(\.frameIDs) {
            FuzzHarness.fail("render/parse round trip changed the entries")
        }
    } catch {
        FuzzHarness.fail("rendered literal does not parse: \(error)")
    }
}
