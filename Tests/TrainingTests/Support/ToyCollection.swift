import FeatureData
import MamFusion
import Foundation

/// A small synthetic collection ("toy": Dv 20, Dq 12, 2 captions per video) in the release
/// layout under a fresh temporary directory, for training tests. Returns the data root.
func writeToyCollection(trainVideos: Int, evaluationVideos: Int, frames: ClosedRange<Int>, seed: UInt64, label: String) throws -> String {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("mamfusion-\(label)-\(UUID().uuidString)").path
    var recipe = SyntheticRecipe()
    recipe.collection = "toy"
    recipe.trainVideos = trainVideos
    recipe.evaluationVideos = evaluationVideos
    recipe.queriesPerVideo = 2
    recipe.frames = frames
    recipe.tokens = 3...7
    recipe.visualDimension = 20
    recipe.queryDimension = 12
    recipe.seed = seed
    try SyntheticGenerator(recipe: recipe).writeRelease(root: root)
    return root
}

/// A small model configuration matching the toy collection (Dv 20, Dq 12).
func tinyTrainingConfiguration() -> RunConfiguration {
    var c = RunConfiguration()
    c.hiddenSize = 16
    c.heads = 2
    c.queryFeatureSize = 12
    c.visualFeatureSize = 20
    c.maxDescriptionLength = 8
    c.maxContextLength = 12
    c.mapSize = 4
    c.batchSize = 5
    return c
}
