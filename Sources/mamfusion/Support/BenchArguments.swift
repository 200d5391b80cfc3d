import ArgumentParser

/// The list and range arguments of the bench commands, parsed in their `validate()` so that a bad
/// value is an error naming the option (argument-parser's usage message) before anything runs.
enum BenchArguments {
    /// "16,32,64" → [16, 32, 64]: one or more integers, each ≥ `minimum`.
    static func integers(_ text: String, option: String, minimum: Int = 1) throws -> [Int] {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: " ") }
        var values: [Int] = []
        for part in parts {
            guard let value = Int(part) else {
                throw ValidationError("\(option) must be comma-separated integers (e.g. 16,32), got '\(part)' in '\(text)'")
            }
            guard value >= minimum else { throw ValidationError("\(option) values must be ≥ \(minimum), got \(value)") }
            values.append(value)
        }
        return values
    }

    /// "32..128" → 32...128, with 1 ≤ MIN ≤ MAX.
    static func range(_ text: String, option: String) throws -> ClosedRange<Int> {
        let parts = text.split(separator: ".", omittingEmptySubsequences: true).map { $0.trimmingCharacters(in: " ") }
        guard text.contains(".."), parts.count == 2, let low = Int(parts[0]), let high = Int(parts[1]) else {
            throw ValidationError("\(option) must be MIN..MAX (e.g. 32..128), got '\(text)'")
        }
        guard low >= 1, high >= low else { throw ValidationError("\(option) needs 1 ≤ MIN ≤ MAX, got \(low)..\(high)") }
        return low...high
    }

    /// A count that must be at least `minimum`.
    static func atLeast(_ value: Int, _ minimum: Int, option: String) throws {
        guard value >= minimum else { throw ValidationError("\(option) must be ≥ \(minimum), got \(value)") }
    }
}

/// The median of `xs` (the mean of the middle two for an even count; NaN when empty): the one
/// median every bench and doctor figure reports.
func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    guard !s.isEmpty else { return .nan }
    return s.count % 2 == 1 ? s[s.count / 2] : 0.5 * (s[s.count / 2 - 1] + s[s.count / 2])
}

private extension Substring {
    func trimmingCharacters(in set: Character) -> String {
        String(drop { $0 == set }.reversed().drop { $0 == set }.reversed())
    }
}
