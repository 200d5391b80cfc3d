import Testing
import TensorKit

/// An allocation sized by user input that cannot be made is an error, in every build
/// (not a precondition that -Ounchecked removes, nor a crash in the allocator).
struct AllocationTests {
    @Test("an impossible allocation throws an AllocationError naming what it was for", arguments: [Int.max, 1 << 60, -1])
    func impossible(count: Int) {
        #expect {
            _ = try FloatStorage(allocating: count, for: "the test's buffer")
        } throws: { error in
            guard let e = error as? AllocationError else { return false }
            return e.floats == count && "\(e)".contains("cannot allocate") && "\(e)".hasSuffix("for the test's buffer")
        }
    }

    @Test("a possible allocation is zero-filled")
    func possible() throws {
        let storage = try FloatStorage(allocating: 1000, for: "a buffer")
        #expect(storage.count == 1000 && storage.buffer.allSatisfy { $0 == 0 })
    }
}
