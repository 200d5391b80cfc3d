import ArgumentParser
import Foundation
import MamFusion
import MPIKit
import TensorKit
import TestSupport

/// `mpirun -np P mamfusion-test-support infonce-check …`: MUSE's sharded symmetric InfoNCE head on
/// P ranks over one synthetic global batch of unit caption and video embeddings (the same on any
/// world size), pairs dealt to ranks round-robin; with `--shared`, pair 2k+1's video is pair
/// 2k's (so a video sits on two ranks whenever P > 1). Rank 0 prints one JSON object: the two
/// loss halves and every pair's ∂v, gathered in global order — for the tests to compare across
/// world sizes.
struct InfoNCEHeadCheck: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "infonce-check", abstract: "Run MUSE's sharded InfoNCE head on synthetic embeddings.")

    @Option var pairs = 9
    @Option var width = 6
    @Option var seed: UInt64 = 3
    @Flag(help: "Pair 2k+1 uses pair 2k's video.") var shared = false

    func run() throws {
        let world = try Communicator.world()
        let b = pairs, w = width
        func units(_ seed: UInt64) -> [Float] {
            var rng = SplitMix64(state: seed)
            var x = (0..<(b * w)).map { _ in rng.float() }
            for r in 0..<b {
                let norm = (0..<w).reduce(Float(0)) { $0 + x[r * w + $1] * x[r * w + $1] }.squareRoot()
                for i in 0..<w { x[r * w + i] /= norm }
            }
            return x
        }
        let captions = units(seed)
        var videos = units(seed + 1)
        if shared { for k in stride(from: 1, to: b, by: 2) { for i in 0..<w { videos[k * w + i] = videos[(k - 1) * w + i] } } }
        let assignment = (0..<world.size).map { r in Array(stride(from: r, to: b, by: world.size)) }
        let mine = assignment[world.rank]
        let ownVideos = mine.flatMap { videos[($0 * w)..<(($0 + 1) * w)] }, ownCaptions = mine.flatMap { captions[($0 * w)..<(($0 + 1) * w)] }
        let head = SymmetricInfoNCEHead(width: w)
        let terms = try ownVideos.withUnsafeBufferPointer { v in
            try ownCaptions.withUnsafeBufferPointer { t in
                var collectives = StepCollectives(world: world)
                return try head.forward(videos: v.baseAddress!, captions: t.baseAddress!, assignment: assignment, collectives: &collectives)
            }
        }
        head.backward()
        let local = Array(UnsafeBufferPointer(start: head.videoGradient.pointer, count: mine.count * w))
        let (gathered, _) = try world.allgatherv(local)
        var gradient = [Float](repeating: 0, count: b * w), row = 0
        for rank in assignment { for p in rank { for i in 0..<w { gradient[p * w + i] = gathered[row * w + i] }; row += 1 } }
        if world.rank == 0 {
            let json = "{\"t2v\": \(terms.textToVideo), \"v2t\": \(terms.videoToText), \"gradient\": [\(gradient.map { "\($0)" }.joined(separator: ", "))]}"
            print(json)
        }
    }
}
