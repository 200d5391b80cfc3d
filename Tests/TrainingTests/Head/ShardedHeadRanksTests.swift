import Foundation
import TestSupport
import Testing

/// The sharded loss head on 1, 2, 3 and 4 real ranks (`mpirun`), over the same global batch of
/// embeddings: score blocks bit-identical, every negative identical, the t2v decisions the same
/// on every rank, loss terms and gradient norms equal up to summation order (a ×P bug would show
/// in the norms), and the whole-matrix head of one process matched on every world size — for
/// MamFusion and for GMMFormer.
@Suite(.serialized)
struct ShardedHeadRanksTests {
    struct Report {
        let json: [String: Any]
        var scores: [String] { json["scores"] as! [String] }
        var t2v: [Int] { json["t2v"] as! [Int] }
        var v2t: [Int] { json["v2t"] as! [Int] }
        var terms: [Double] { json["terms"] as! [Double] }
        var norms: [String: Double] { json["norms"] as! [String: Double] }
        var oracle: [String: Double]? { json["oracle"] as? [String: Double] }
        var agree: Bool { json["agree"] as! Bool }
        var queryVideo: [Int] { json["query_video"] as! [Int] }
        var owners: [Int] { json["video_owner"] as! [Int] }
    }

    static func run(_ arguments: [String], ranks: Int) throws -> Report {
        let out = try ToolRunner.run(["head-check"] + arguments, ranks: ranks, timeout: 120, program: .testSupport)
        try #require(out.status == 0, "head-check on \(ranks) ranks failed:\n\(out.stderr)")
        let line = try #require(out.stdout.split(separator: "\n").first { $0.hasPrefix("{") })
        return Report(json: try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any])
    }

    static func relative(_ a: Double, _ b: Double) -> Double { abs(a - b) / max(abs(b), 1e-12) }

    @Test("1–4 ranks: identical score bits and negatives, equal terms and gradients, the whole-matrix head matched",
          arguments: [
              ["--videos", "11"],                                      // random negatives
              ["--videos", "11", "--hard", "--pool", "1"],             // hardest negative (MAXLOC)
              ["--videos", "27", "--hard", "--pool", "20"],            // a pool of 20 (merge of top-k lists)
              ["--videos", "3", "--hard", "--pool", "2"],              // fewer videos than ranks: a rank with none
              ["--videos", "11", "--hard", "--pool", "4", "--model", "gmmformer"],  // GMMFormer: no fusion, QDL on q2
              ["--videos", "3", "--model", "gmmformer"],               // GMMFormer, a rank with no videos
          ])
    func worldSizes(arguments: [String]) throws {
        let reports = try (1...4).map { try Self.run(arguments, ranks: $0) }
        let one = reports[0]
        for (i, r) in reports.enumerated() {
            let ranks = i + 1
            #expect(r.agree, "\(ranks) ranks: the ranks took different t2v decisions")
            #expect(r.scores == one.scores, "\(ranks) ranks: score bits differ from 1 rank")
            #expect(r.t2v == one.t2v, "\(ranks) ranks: t2v negatives differ")
            #expect(r.v2t == one.v2t, "\(ranks) ranks: v2t negatives differ")
            for (a, b) in zip(r.terms, one.terms) { #expect(Self.relative(a, b) < 1e-6, "\(ranks) ranks: terms \(r.terms) vs \(one.terms)") }
            for (name, value) in r.norms { #expect(Self.relative(value, one.norms[name]!) < 1e-6, "\(ranks) ranks: ‖\(name)‖ \(value) vs \(one.norms[name]!)") }
            let oracle = try #require(r.oracle)
            for (name, difference) in oracle { #expect(difference < 1e-5, "\(ranks) ranks: \(name) differs from the whole-matrix head by \(difference)") }
        }
        if arguments.contains("3") { #expect(reports[3].owners.count == 3, "4 ranks, 3 videos: one rank holds none") }
    }

    @Test("planted exact ties across ranks: the hardest negative is the lower global index, on every world size")
    func ties() throws {
        let arguments = ["--videos", "12", "--hard", "--pool", "1", "--ties"]
        let reports = try (1...4).map { try Self.run(arguments, ranks: $0) }
        let one = reports[0]
        let Q = one.queryVideo.count
        // Video 2k+1 is a copy of video 2k: an odd hardest negative whose twin is not the positive
        // would break the tie rule.
        var decided = 0
        for b in 0..<2 {
            for i in 0..<Q {
                let negative = one.t2v[b * Q + i], positive = one.queryVideo[i]
                if negative % 2 == 1 { #expect(negative - 1 == positive, "query \(i): negative \(negative) chosen over its identical twin \(negative - 1)") }
                if negative % 2 == 0 && negative + 1 < one.owners.count && negative + 1 != positive { decided += 1 }
            }
        }
        #expect(decided > 0, "no tie was decided: the check would be vacuous")
        for r in reports.dropFirst() {
            #expect(r.t2v == one.t2v && r.v2t == one.v2t && r.scores == one.scores && r.agree)
            // Twins on different ranks make ties cross-rank ones.
            #expect((0..<(r.owners.count / 2)).contains { r.owners[2 * $0] != r.owners[2 * $0 + 1] })
        }
    }
}
