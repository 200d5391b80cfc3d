import ArgumentParser
import FeatureData
import Foundation

/// `mamfusion synth …`: a synthetic dataset with planted partial relevance in either layout
/// (see `SyntheticGenerator` for the generative model). Same flags and seed ⇒ same data.
struct Synth: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate a synthetic PRVR dataset (train/val/test) in the release or packed layout.",
        discussion: """
        Each video is a sequence of moments drawn from latent topics; each caption's token features \
        are a noisy, different linear view of one moment, so a trained model finds the video from the \
        caption while an untrained one is at chance. Written video by video (never held in memory). \
        --layout release writes OUT/<collection>/…; --layout packed writes OUT (if it ends in .h5) or \
        OUT/<collection>.h5. val and test get --eval-videos videos each (default: videos/8, at least 1).
        """
    )

    @Option(help: "Output: data root (release) or .h5 file / directory (packed).")
    var out: String

    @Option(help: "Collection name.")
    var collection: String = "synthetic"

    @Option(help: "Train videos.")
    var videos: Int = 64

    @Option(help: "Queries (captions) per video.")
    var queriesPerVideo: Int = 3

    @Option(help: "Frames per video, MIN..MAX.")
    var frames: String = "8..24"

    @Option(help: "Visual feature size Dv.")
    var dv: Int = 64

    @Option(help: "Query token feature size Dq.")
    var dq: Int = 32

    @Option(help: "Tokens per query, MIN..MAX.")
    var tokens: String = "4..12"

    @Option(help: "Seed of the counter-based generator.")
    var seed: UInt64 = 1

    @Option(help: "release (MS-SL layout) or packed (one HDF5 file).")
    var layout: String = "release"

    @Option(help: "Videos in each of val and test (default: videos/8, at least 1).")
    var evalVideos: Int?

    @Option(help: "Visual-feature folder name (release layout; default: the reference collection's, else 'synthetic').")
    var visualFeature: String?

    func validate() throws {
        guard layout == "release" || layout == "packed" else { throw ValidationError("--layout must be release or packed, got '\(layout)'") }
    }

    func run() throws {
        var recipe = SyntheticRecipe()
        recipe.collection = collection
        recipe.visualFeature = visualFeature ?? SyntheticRecipe.defaultVisualFeature(collection: collection)
        recipe.trainVideos = videos
        recipe.evaluationVideos = evalVideos ?? max(1, videos / 8)
        recipe.queriesPerVideo = queriesPerVideo
        recipe.frames = try SyntheticRecipe.parseRange(frames, flag: "--frames")
        recipe.tokens = try SyntheticRecipe.parseRange(tokens, flag: "--tokens")
        recipe.visualDimension = dv
        recipe.queryDimension = dq
        recipe.seed = seed
        let generator = try SyntheticGenerator(recipe: recipe)
        let bar = ProgressBar("synth")
        defer { bar.finish() }
        let target: String
        if layout == "release" {
            try generator.writeRelease(root: out, progress: bar.update)
            target = "\(out)/\(collection) (visual feature \(recipe.visualFeature))"
        } else {
            target = out.hasSuffix(".h5") ? out : "\(out)/\(collection).h5"
            if !out.hasSuffix(".h5") { try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true) }
            try generator.writePacked(path: target, progress: bar.update)
        }
        let seconds = bar.finish()
        print("wrote \(layout) layout to \(target) in \(String(format: "%.2f", seconds)) s")
        print("  train \(recipe.trainVideos), val \(recipe.evaluationVideos), test \(recipe.evaluationVideos) videos; "
              + "\(recipe.queriesPerVideo) queries each; frames \(frames), tokens \(tokens), Dv \(dv), Dq \(dq), seed \(seed)")
    }
}
