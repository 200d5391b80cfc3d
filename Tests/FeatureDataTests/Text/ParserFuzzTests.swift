import Testing
@testable import FeatureData

/// Deterministic fuzzing of the text parsers: random mutations of valid inputs must give a value
/// or a `FeatureDataError` — never a trap, never another error type.
struct ParserFuzzTests {
    static let seeds: [String: String] = [
        "caption": "vid1#enc#0 a man walks in\nvid2#enc#3 the dog barks\r\nv_3#enc#1 x y z\n",
        "shape": "12 3072\n",
        "literal": "{'v1': ['v1_0', \"v1_1\", 'a\\x41\\u00e9\\n'],\n u'v2': [],\n 'v3': ['x\\\\y', 'q\\'s']}\n",
    ]

    /// Interesting bytes for the grammars.
    static let alphabet: [UInt8] = Array("{}[]:,'\"\\#u x0\n\r\t".utf8) + [0x00, 0xFF, 0xC3, 0xA9, 0x7F]

    static func mutate(_ input: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var bytes = input
        for _ in 0..<(1 + rng.below(4)) {
            switch rng.below(6) {
            case 0 where !bytes.isEmpty: bytes.remove(at: rng.below(bytes.count))
            case 1: bytes.insert(alphabet[rng.below(alphabet.count)], at: rng.below(bytes.count + 1))
            case 2 where !bytes.isEmpty: bytes[rng.below(bytes.count)] = alphabet[rng.below(alphabet.count)]
            case 3 where !bytes.isEmpty: bytes[rng.below(bytes.count)] = UInt8(truncatingIfNeeded: rng.next())
            case 4 where !bytes.isEmpty: bytes.removeSubrange(rng.below(bytes.count)..<bytes.count)  // truncate
            default:
                let a = rng.below(bytes.count + 1), b = rng.below(bytes.count + 1)
                bytes.insert(contentsOf: bytes[min(a, b)..<max(a, b)], at: rng.below(bytes.count + 1))  // duplicate a span
            }
        }
        return bytes
    }

    @Test("mutated caption files, shape files and dict literals never trap", arguments: ["caption", "shape", "literal"])
    func fuzz(kind: String) {
        var rng = SplitMix64(state: 0xF022 &+ UInt64(kind.hashValueStable))
        let seed = Array(Self.seeds[kind]!.utf8)
        var values = 0, errors = 0
        for _ in 0..<3000 {
            let input = Self.mutate(seed, &rng)
            do {
                switch kind {
                case "caption": _ = try CaptionFile.parse(input, file: "fuzz")
                case "shape": _ = try BigFileHeader.parseShape(input, file: "fuzz")
                default: _ = try VideoFramesLiteral.parse(input, file: "fuzz")
                }
                values += 1
            } catch let error as FeatureDataError {
                #expect(error.file == "fuzz")
                errors += 1
            } catch {
                Issue.record("unexpected error type: \(error)")
            }
        }
        #expect(values + errors == 3000)
        #expect(values > 0 && errors > 0, "the mutations should reach both outcomes (values \(values), errors \(errors))")
    }
}
