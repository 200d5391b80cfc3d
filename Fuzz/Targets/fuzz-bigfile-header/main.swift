import FeatureData
import FuzzSupport

// BigFile headers: the same bytes as `shape.txt` (`BigFileHeader.parseShape`) and as `id.txt`
// (`parseIDs`). A shape that parses is within the documented limits with N·D·4 representable;
// ids are non-empty and hold no whitespace.
FuzzHarness.run { input in
    let bytes = Array(input)
    do {
        let (n, d) = try BigFileHeader.parseShape(bytes, file: "fuzz.shape.txt")
        guard n >= 0, n <= FeatureLimits.maximumRows, d >= 1, d <= FeatureLimits.maximumDimension else {
            FuzzHarness.fail("shape (\(n), \(d)) outside the limits accepted")
        }
        if n.multipliedReportingOverflow(by: d).overflow || (n * d).multipliedReportingOverflow(by: 4).overflow {
            FuzzHarness.fail("shape (\(n), \(d)) overflows")
        }
    } catch let error as FeatureDataError {
        if error.file != "fuzz.shape.txt" { FuzzHarness.fail("error names another file: \(error)") }
        FuzzHarness.requireShort(error)
    } catch {
        FuzzHarness.fail("unexpected error type: \(error)")
    }
    for id in BigFileHeader.parseIDs(bytes) where id.isEmpty || id.unicodeScalars.contains(where: { [" ", "\t", "\n", "\r", "\u{0B}", "\u{0C}"].contains($0) }) {
        FuzzHarness.fail("id with whitespace or empty: \(id.debugDescription)")
    }
}
