/// Short, printable quotations of user-controlled text for error messages.
///
/// An error must never copy a whole offending line or value: a caption file that is one 2 GiB
/// line would otherwise become a 2 GiB message (and the memory to build it). An excerpt is at
/// most `limit` bytes of the text, with control characters and invalid UTF-8 shown as `\xHH`,
/// and, when the text is longer, an ellipsis and the full length in bytes.
public enum Excerpt {
    /// Bytes of text quoted before the ellipsis.
    public static let defaultLimit = 48

    /// `'text'`, or `'first bytes…' (N bytes)` when `bytes` is longer than `limit`.
    /// `total`: the full length when `bytes` is only the start of the text (default: its count).
    public static func quote<C: Collection>(_ bytes: C, limit: Int = defaultLimit, total: Int? = nil) -> String where C.Element == UInt8 {
        let total = max(total ?? bytes.count, bytes.count)
        var shown = Array(bytes.prefix(limit))
        // Do not cut a UTF-8 sequence in two: drop continuation bytes of a cut-off character.
        if total > limit {
            var end = shown.count
            while end > 0 && shown[end - 1] & 0xC0 == 0x80 { end -= 1 }
            if end > 0 && shown[end - 1] >= 0xC0 {
                let lead = shown[end - 1]
                let length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2
                if shown.count - (end - 1) < length { shown.removeSubrange((end - 1)...) }
            }
        }
        var out = "'"
        var decoder = UTF8()
        var iterator = shown.makeIterator()
        loop: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar):
                if scalar.value < 0x20 || scalar.value == 0x7F || (0x80...0x9F).contains(scalar.value) {
                    out += escape(scalar.value)
                } else if scalar == "'" || scalar == "\\" {
                    out += "\\" + String(Character(scalar))
                } else {
                    out.unicodeScalars.append(scalar)
                }
            case .emptyInput:
                break loop
            case .error:
                out += "\u{FFFD}"
            }
        }
        out += "'"
        if total > limit { out = String(out.dropLast()) + "…' (\(total) bytes)" }
        return out
    }

    /// `quote` of a string's UTF-8 bytes.
    public static func quote(_ text: String, limit: Int = defaultLimit) -> String {
        quote(text.utf8, limit: limit)
    }

    private static func escape(_ value: UInt32) -> String {
        let hex = String(value, radix: 16, uppercase: true)
        return "\\x" + (hex.count < 2 ? "0" : "") + hex
    }
}
