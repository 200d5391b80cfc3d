import ArgumentParser
import FeatureData
import HDF5Kit
import MPIKit
import TensorKit

/// `mamfusion-test-support selftest-tokens`: sharded reads of a CLIP token file under
/// `mpirun -np P`, printed for the test suite. Rank r reads the pairs p with p mod P = r, in
/// batches, and prints per pair
///
///     rank <r> pair <p> video <id> frames <T_v> tokens <hash> caption <id> embedding <hash>
///
/// where a hash is FNV-1a over the float32 bit patterns (tokens: the whole [T, N, W] block with
/// its padding frames), so a test can check that P ranks together read exactly what one
/// process reads. Every rank runs the same number of batches, as collective MPI-IO requires.
struct TokenDataSelfTest: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "selftest-tokens", abstract: "Print sharded CLIP token reads for the test suite.")

    @Option(help: "CLIP token file.") var path: String
    @Option(help: "Split to read.") var split: String = "train"
    @Option(help: "parallel (MPI-IO) or serial (each rank opens the file itself).") var access: String = "parallel"
    @Option(help: "independent or collective.") var transfer: String = "independent"
    @Option(help: "Pairs per batch.") var batch: Int = 4

    func run() throws {
        let world = try Communicator.world()
        let collection = try CLIPTokenCollection(path: path, access: access == "parallel" ? .parallel(world) : .serial)
        let tokens = try collection.split(split, transfer: transfer == "collective" ? .collective : .independent)
        let mine = Array(stride(from: world.rank, to: tokens.pairCount, by: world.size))
        let rounds = ((tokens.pairCount + world.size - 1) / world.size + batch - 1) / batch
        var lines: [String] = []
        for k in 0..<rounds {
            let pairs = Array(mine[min(mine.count, k * batch)..<min(mine.count, (k + 1) * batch)])
            let videos = FloatStorage(count: pairs.count * collection.videoFloats)
            let captions = FloatStorage(count: pairs.count * collection.width)
            _ = try tokens.readVideos(pairs.map { tokens.pairVideo[$0] }, into: videos.base)
            _ = try tokens.readCaptions(pairs, into: captions.base)
            for (i, p) in pairs.enumerated() {
                let v = tokens.pairVideo[p]
                lines.append("rank \(world.rank) pair \(p) video \(tokens.videoID(v)) frames \(tokens.frameCount(ofVideo: v)) "
                             + "tokens \(hash(videos.base + i * collection.videoFloats, collection.videoFloats)) "
                             + "caption \(tokens.captionID(ofPair: p)) embedding \(hash(captions.base + i * collection.width, collection.width))")
            }
        }
        try world.printInRankOrder(lines: lines)
    }

    func hash(_ values: UnsafePointer<Float>, _ count: Int) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for i in 0..<count { h = (h ^ UInt64(values[i].bitPattern)) &* 0x100_0000_01b3 }
        return String(h, radix: 16)
    }
}
