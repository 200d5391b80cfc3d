import ArgumentParser
import FeatureData
import Foundation

/// `mamfusion synth …`: a synthetic dataset with planted partial relevance in either layout
/// (see `SyntheticGenerator` for the generative model). Same flags and seed ⇒ same data.
struct Synth: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate a synthetic dataset (train/val/test): PRVR features (release or packed layout) or CLIP tokens (MUSE).",
        discussion: """
        Each video is a sequence of moments drawn from latent topics; each caption's token features \
        are a noisy, different linear view of one moment, so a trained model finds the video from the \
        caption while an untrained one is at chance. Written video by video (never held in memory). \
        --layout release writes OUT/<collection>/…; --layout packed writes OUT (if it ends in .h5) or \
        OUT/<collection>.h5. val and test get --eval-videos videos each (default: videos/8, at least 1).

        --layout clip-tokens writes a CLIP token collection for MUSE (OUT if it ends in .h5, else \
        OUT/<collection>.h5): per video 1…--max-frames frames of 1 + grid² tokens of --width, one \
        end-of-text embedding per caption, float16; each caption is another view of its video's \
        latent than the tokens, so a trained head finds the video and an untrained one is at chance. \
        There --queries-per-video counts train captions (default 4) and --eval-queries-per-video \
        val/test captions (default 1, as MSR-VTT 1k-A); --frames defaults to 4..8, --max-frames to 8.
        """
    )

    @Option(help: "Output: data root (release) or .h5 file / directory (packed).")
    var out: String

    @Option(help: "Collection name.")
    var collection: String = "synthetic"

    @Option(help: "Train videos.")
    var videos: Int = 64

    @Option(help: "Queries (captions) per video (default 3; clip-tokens: per train video, default 4).")
    var queriesPerVideo: Int?

    @Option(help: "clip-tokens: captions per val/test video.")
    var evalQueriesPerVideo: Int = 1

    @Option(help: "clip-tokens: token width W.")
    var width: Int = 32

    @Option(help: "clip-tokens: patch grid G (G×G patches, 1 + G² tokens per frame).")
    var grid: Int = 3

    @Option(help: "clip-tokens: frames T every video is completed to.")
    var maxFrames: Int = 8

    @Option(help: "Frames per video, MIN..MAX (default 8..24; clip-tokens: 4..max-frames).")
    var frames: String?

    @Option(help: "Visual feature size Dv.")
    var dv: Int = 64

    @Option(help: "Query token feature size Dq.")
    var dq: Int = 32

    @Option(help: "Tokens per query, MIN..MAX.")
    var tokens: String = "4..12"

    @Option(help: "Seed of the counter-based generator.")
    var seed: UInt64 = 1

    @Option(help: "release (MS-SL layout), packed (one HDF5 file) or clip-tokens (MUSE's CLIP tokens, one HDF5 file).")
    var layout: String = "release"

    @Option(help: "Videos in each of val and test (default: videos/8, at least 1).")
    var evalVideos: Int?

    @Option(help: "Visual-feature folder name (release layout; default: the reference collection's, else 'synthetic').")
    var visualFeature: String?

    func validate() throws {
        guard ["release", "packed", "clip-tokens"].contains(layout) else {
            throw ValidationError("--layout must be release, packed or clip-tokens, got '\(layout)'")
        }
    }

    func run() throws {
        if layout == "clip-tokens" { return try writeTokens() }
        let frames = self.frames ?? "8..24"
        var recipe = SyntheticRecipe()
        recipe.collection = collection
        recipe.visualFeature = visualFeature ?? SyntheticRecipe.defaultVisualFeature(collection: collection)
        recipe.trainVideos = videos
        recipe.evaluationVideos = evalVideos ?? max(1, videos / 8)
        recipe.queriesPerVideo = queriesPerVideo ?? 3
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

    /// `--layout clip-tokens`: a CLIP token collection (`SyntheticTokenGenerator`).
    func writeTokens() throws {
        var recipe = SyntheticTokenRecipe()
        recipe.collection = collection
        recipe.trainVideos = videos
        recipe.evaluationVideos = evalVideos ?? max(1, videos / 8)
        recipe.trainCaptionsPerVideo = queriesPerVideo ?? 4
        recipe.evaluationCaptionsPerVideo = evalQueriesPerVideo
        recipe.maxFrames = maxFrames
        recipe.frames = try frames.map { try SyntheticRecipe.parseRange($0, flag: "--frames") } ?? min(4, maxFrames)...maxFrames
        recipe.width = width
        recipe.grid = grid
        recipe.seed = seed
        let generator = try SyntheticTokenGenerator(recipe: recipe)
        let target = out.hasSuffix(".h5") ? out : "\(out)/\(collection).h5"
        let directory = (target as NSString).deletingLastPathComponent
        if !directory.isEmpty { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        let bar = ProgressBar("synth")
        defer { bar.finish() }
        try generator.write(path: target, progress: bar.update)
        let seconds = bar.finish()
        print("wrote clip-tokens layout to \(target) in \(String(format: "%.2f", seconds)) s")
        print("  train \(recipe.trainVideos) videos × \(recipe.trainCaptionsPerVideo) captions, val and test \(recipe.evaluationVideos) × "
              + "\(recipe.evaluationCaptionsPerVideo); frames \(recipe.frames.lowerBound)..\(recipe.frames.upperBound) of \(maxFrames), "
              + "width \(width), grid \(grid), seed \(seed)")
    }
}
