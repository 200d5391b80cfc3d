/// A double-quoted string literal that is at once valid JSON (RFC 8259) and a YAML 1.2
/// double-quoted scalar reading back as exactly the same text. YAML's double-quoted syntax
/// includes JSON's, and YAML also folds or rejects a few characters that JSON allows raw, so
/// those are escaped too: the run records (JSON Lines), the `--ranks-out` records and a run's
/// `config.yaml` all quote text with this one function.
///
/// Escaped: `"` and `\`; line feed, tab and carriage return by name; as `\uXXXX` the other C0
/// controls, DEL and the C1 controls, YAML's own line breaks (NEL, LS, PS), the byte-order mark
/// and the non-characters U+FFFE and U+FFFF. Everything else is copied.
public enum QuotedString {
    public static func json(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                let v = scalar.value
                if v < 0x20 || (0x7F...0x9F).contains(v) || v == 0x2028 || v == 0x2029 || v == 0xFEFF || v == 0xFFFE || v == 0xFFFF {
                    let hex = String(v, radix: 16, uppercase: true)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
