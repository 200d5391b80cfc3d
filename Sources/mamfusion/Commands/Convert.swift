import ArgumentParser
import FeatureData
import Foundation

/// `mamfusion convert --from ROOT --collection C --out FILE.h5 [--verify]`: the MS-SL release
/// layout → this project's packed HDF5 layout (DATA.md §2), losslessly.
struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert a collection in the MS-SL release layout into one packed HDF5 file.",
        discussion: """
        Reads ROOT/C/TextData (caption files, RoBERTa query features) and ROOT/C/FeatureData/F \
        (BigFile + video2frames.txt) and writes every split (train, val, test — those present) to \
        FILE.h5 with bit-identical features. --verify re-reads both and compares every row.
        """
    )

    @Option(name: .customLong("from"), help: "Data root holding <collection>/TextData and <collection>/FeatureData.")
    var root: String

    @Option(help: "Collection name (tvr, activitynet, charades, or any other).")
    var collection: String

    @Option(help: "Visual-feature folder under FeatureData (default: the only one, or the reference collection's).")
    var visualFeature: String?

    @Option(help: "Packed HDF5 file to write (written atomically).")
    var out: String

    @Flag(help: "Re-read the packed file and the release files and compare every row bit for bit.")
    var verify = false

    @Flag(help: "Store the feature datasets contiguously instead of in chunks of rows.")
    var contiguous = false

    func run() throws {
        let paths = try CollectionPaths.resolve(root: root, collection: collection, visualFeature: visualFeature)
        let bar = ProgressBar("convert")
        defer { bar.finish() }
        let summary = try ReleaseConverter.convert(paths, to: out, chunked: !contiguous, progress: bar.update)
        bar.finish()
        print("converted \(paths.root)/\(paths.collection) (\(paths.visualFeature)) → \(out)")
        for s in summary.splits { print("  \(s.name): \(s.videos) videos, \(s.queries) queries") }
        print("  \(summary.videos) videos stored, \(summary.frames) frame rows, \(summary.tokens) token rows, "
              + "\(ProgressBar.bytes(summary.bytes)) in \(String(format: "%.2f", summary.seconds)) s "
              + "(\(String(format: "%.1f", summary.megabytesPerSecond)) MB/s)")
        if verify {
            let check = ProgressBar("verify ")
            let bytes = try ReleaseConverter.verify(paths, packed: out, progress: check.update)
            let seconds = check.finish()
            print("verified: every frame and token row is bit-identical (\(ProgressBar.bytes(bytes)) compared in \(String(format: "%.2f", seconds)) s)")
        }
    }
}
