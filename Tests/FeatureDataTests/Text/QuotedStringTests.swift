import Foundation
import InputFiles
import Testing

/// One quoting for JSON records and YAML configuration values: JSON readers get the same text
/// back (the YAML side is checked by the configuration round-trip tests).
struct QuotedStringTests {
    static let awkward = ["", "plain", "say \"hi\"", "back\\slash", "line\nbreak\ttab\rcr", "\u{0}\u{1F}\u{7F}",
                          "c1 \u{85}\u{9F}", "ls \u{2028} ps \u{2029}", "\u{FEFF}bom", "non \u{FFFE}\u{FFFF}", "ünïcødé 字 🎬", " spaces "]

    @Test("JSON readers read every awkward string back exactly")
    func jsonRoundTrip() throws {
        for text in Self.awkward {
            let literal = QuotedString.json(text)
            let decoded = try JSONSerialization.jsonObject(with: Data(literal.utf8), options: [.fragmentsAllowed]) as? String
            #expect(decoded == text, "\(literal)")
        }
    }

    @Test("controls, YAML line breaks, the BOM and non-characters never appear raw")
    func escapesWhatYAMLWouldFold() {
        for text in Self.awkward {
            let raw = QuotedString.json(text).unicodeScalars.filter {
                $0.value < 0x20 || (0x7F...0x9F).contains($0.value) || [0x2028, 0x2029, 0xFEFF, 0xFFFE, 0xFFFF].contains($0.value)
            }
            #expect(raw.isEmpty, "\(text.debugDescription)")
        }
    }
}
