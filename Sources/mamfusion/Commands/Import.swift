import ArgumentParser
import FeatureData
import Foundation
import MPIKit

/// `mamfusion import`: a collection (release layout or packed HDF5) from per-video and
/// per-caption arrays and a caption table (see `ImportPlan`, `CollectionImporter`).
struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build a collection from your own features: per-video and per-caption .npy/.npz arrays (or HDF5) and a caption table.",
        discussion: """
        --videos: a directory of <video_id>.npy/.npz arrays (frames × Dv) or an HDF5 file with one \
        root-level dataset per video id. --queries: the same per caption id (tokens × Dq), e.g. the \
        release's roberta_<collection>_query_feat.hdf5. --captions: TSV, CSV or JSON Lines with \
        caption_id, video_id, text and optionally split (train, val, test; else --split). \
        Everything is validated first (ids, shapes, types, dimensions; values while copying) and \
        every problem is listed as inspect lists them; with any, nothing is written and the exit \
        status is 2. The output appears complete or not at all. --layout packed runs on any \
        number of ranks (mpirun -np P), each copying its share through MPI-IO. --layout clip-tokens \
        writes MUSE's CLIP token file (one process): videos are [T, 1+G², W] token arrays, captions \
        [W] end-of-text embeddings, plus --padding-frame (what Tools/extract-clip-tokens produces).
        """
    )

    @Option(help: "Caption table: .tsv, .csv or .jsonl (caption_id, video_id, text[, split]).")
    var captions: String

    @Option(help: "Caption table format, when its extension does not say: tsv, csv or jsonl.")
    var captionsFormat: String?

    @Option(help: "Video features: a directory of <video_id>.npy/.npz or an HDF5 file with a dataset per video.")
    var videos: String

    @Option(help: "Query features: a directory of <caption_id>.npy/.npz or an HDF5 file with a dataset per caption.")
    var queries: String

    @Option(help: "The array to read from each .npz file (default: its only array).")
    var npzKey: String?

    @Option(help: "Split of captions whose record names none.")
    var split: String = "train"

    @Option(help: "Collection name.")
    var collection: String

    @Option(help: "Visual-feature folder name (release layout; also recorded in a packed file).")
    var visualFeature: String = "imported"

    @Option(help: "release (MS-SL layout under the data root --out), packed (one HDF5 file --out) or clip-tokens (MUSE's CLIP tokens, one HDF5 file --out).")
    var layout: String = "release"

    @Option(help: "clip-tokens: the .npy with the padding frame's tokens [1+G², W].")
    var paddingFrame: String?

    @Option(help: "clip-tokens: frames T every video is completed to (the most a video may have).")
    var maxFrames: Int = 12

    @Option(help: "Data root (release: writes OUT/<collection>/…) or .h5 file (packed).")
    var out: String

    @Flag(help: "Validate everything and list what would be written, without writing.")
    var dryRun = false

    @Flag(help: "Packed: store the feature datasets contiguously instead of in chunks of rows.")
    var contiguous = false

    func validate() throws {
        guard ["release", "packed", "clip-tokens"].contains(layout) else {
            throw ValidationError("--layout must be release, packed or clip-tokens, got '\(layout)'")
        }
        guard (layout == "clip-tokens") == (paddingFrame != nil) else {
            throw ValidationError(layout == "clip-tokens" ? "--layout clip-tokens needs --padding-frame FILE.npy" : "--padding-frame is for --layout clip-tokens")
        }
        guard (1...CLIPTokenFormat.maximumFrames).contains(maxFrames) else {
            throw ValidationError("--max-frames must be in 1…\(CLIPTokenFormat.maximumFrames), got \(maxFrames)")
        }
        if let captionsFormat, CaptionTable.Format(rawValue: captionsFormat) == nil {
            throw ValidationError("--captions-format must be tsv, csv or jsonl, got '\(captionsFormat)'")
        }
        guard CaptionTable.splits.contains(split) else { throw ValidationError("--split must be train, val or test, got '\(split)'") }
    }

    func run() throws {
        let world = try Communicator.world()
        guard let format = captionsFormat.flatMap(CaptionTable.Format.init(rawValue:)) ?? CaptionTable.format(of: captions) else {
            throw ValidationError("cannot tell the format of \(captions) from its extension: give --captions-format tsv, csv or jsonl")
        }
        var request = ImportRequest(captions: captions, captionsFormat: format, videos: videos, queries: queries, collection: collection,
                                    visualFeature: visualFeature,
                                    output: layout == "release" ? .release(root: out) : layout == "packed" ? .packed(file: out) : .clipTokens(file: out))
        request.paddingFrame = paddingFrame
        request.maxFrames = maxFrames
        request.defaultSplit = split
        request.npzKey = npzKey
        request.chunked = !contiguous
        let videoArrays = try FeatureArrays(path: videos, role: "video features", npzKey: npzKey)
        let queryArrays = try FeatureArrays(path: queries, role: "query features", npzKey: npzKey)
        let plan = try ImportPlan.make(request, videos: videoArrays, queries: queryArrays, world: world)
        let leader = world.rank == 0
        let bar = leader ? ProgressBar(dryRun ? "checking (rank 0)" : "importing (rank 0)", unit: .items("arrays")) : nil
        let summary: CollectionImporter.Summary
        do {
            summary = try CollectionImporter.run(plan, videos: videoArrays, queries: queryArrays, world: world, dryRun: dryRun,
                                                 progress: bar.map { bar in { bar.update($0, $1) } })
            _ = bar?.finish()
        } catch let problems as CollectionImporter.Problems {
            _ = bar?.finish()
            if leader {
                print(problems.report.render())
                FileHandle.standardError.write(Data("mamfusion import: \(problems.report.problems.count) problem\(problems.report.problems.count == 1 ? "" : "s"); nothing written\n".utf8))
            }
            throw ExitCode(2)
        }
        guard leader else { return }
        print(plan.report.render())
        print(dryRun ? "dry run: nothing written; an import would write (\(ProgressBar.bytes(summary.bytes)) of features):"
                     : "imported in \(String(format: "%.2f", summary.seconds)) s on \(world.size) rank\(world.size == 1 ? "" : "s") (\(ProgressBar.bytes(summary.bytes)) of features):")
        for file in summary.files { print("  \(file.path): \(file.description)") }
    }
}
