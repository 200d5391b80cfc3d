import Testing
@testable import TensorKit

struct TensorViewTests {
    @Test("views share storage; rows and reshape address the right elements")
    func views() {
        let t = Tensor(shape: [3, 4], values: (0..<12).map(Float.init))
        let r = t.rows(1, 2)
        #expect(r.shape == [2, 4] && r.toArray() == (4..<12).map(Float.init))
        r.pointer[0] = 100
        #expect(t.pointer[4] == 100)
        #expect(t.reshaped([2, 6]).rows(1, 1).toArray().first == 6)
        let storage = FloatStorage(count: 10)
        #expect(storage.buffer.allSatisfy { $0 == 0 })
        #expect(Int(bitPattern: storage.base) % 64 == 0)
    }
}
