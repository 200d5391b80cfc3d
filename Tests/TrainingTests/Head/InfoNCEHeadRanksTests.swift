import Foundation
import Testing
import TestSupport

/// MUSE's sharded InfoNCE head on 1, 2 and 3 real ranks (`mamfusion-test-support infonce-check`):
/// the loss halves and every pair's ∂v equal one rank's up to summation order, also when two
/// pairs on different ranks share a video.
@Suite(.serialized)
struct InfoNCEHeadRanksTests {
    struct Result: Decodable { let t2v: Double; let v2t: Double; let gradient: [Double] }

    static func run(ranks: Int, shared: Bool) throws -> Result {
        let output = try ToolRunner.run(["infonce-check", "--pairs", "11", "--width", "7"] + (shared ? ["--shared"] : []),
                                        ranks: ranks, timeout: 90, program: .testSupport)
        #expect(output.status == 0, "\(output.stderr)")
        let line = output.stdout.split(separator: "\n").first { $0.hasPrefix("{") } ?? ""
        return try JSONDecoder().decode(Result.self, from: Data(line.utf8))
    }

    @Test("P ranks ≡ 1 rank, with and without pairs sharing a video across ranks", arguments: [false, true])
    func ranks(shared: Bool) throws {
        let one = try Self.run(ranks: 1, shared: shared)
        let scale = one.gradient.map(abs).max()!
        #expect(scale > 1e-3)
        for p in [2, 3] {
            let many = try Self.run(ranks: p, shared: shared)
            #expect(abs(many.t2v - one.t2v) <= 1e-6 * one.t2v && abs(many.v2t - one.v2t) <= 1e-6 * one.v2t, "P = \(p)")
            let worst = zip(many.gradient, one.gradient).map { abs($0 - $1) }.max()!
            #expect(worst <= 1e-6 * scale, "P = \(p): max |Δ∂v| \(worst) of \(scale)")
        }
    }
}
