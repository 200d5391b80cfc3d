import Foundation
import Testing
@testable import FeatureData

/// `synth`: same seed ⇒ same bytes, both layouts hold the same data, the planted signal is
/// learnable and invisible to an untrained model.
struct SyntheticDatasetTests {
    static var recipe: SyntheticRecipe {
        var r = SyntheticRecipe()
        r.collection = "toy"
        r.trainVideos = 12
        r.evaluationVideos = 3
        r.queriesPerVideo = 2
        r.frames = 3...9
        r.tokens = 2...6
        r.visualDimension = 10
        r.queryDimension = 6
        r.seed = 42
        return r
    }

    static func files(under root: String) throws -> [String: [UInt8]] {
        var out: [String: [UInt8]] = [:]
        let enumerator = FileManager.default.enumerator(atPath: root)!
        while let relative = enumerator.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: root + "/" + relative, isDirectory: &isDirectory), !isDirectory.boolValue {
                out[relative] = try readBytes(root + "/" + relative)
            }
        }
        return out
    }

    @Test("same seed gives identical files in both layouts; another seed does not")
    func determinism() throws {
        try withTemporaryDirectory { dir in
            for (name, seed) in [("a", 42), ("b", 42), ("c", 43)] {
                var r = Self.recipe
                r.seed = UInt64(seed)
                let generator = try SyntheticGenerator(recipe: r)
                try generator.writeRelease(root: "\(dir)/\(name)")
                try generator.writePacked(path: "\(dir)/\(name).h5")
            }
            let a = try Self.files(under: dir + "/a"), b = try Self.files(under: dir + "/b"), c = try Self.files(under: dir + "/c")
            #expect(a.keys.sorted() == ["toy/FeatureData/synthetic/feature.bin", "toy/FeatureData/synthetic/id.txt",
                                        "toy/FeatureData/synthetic/shape.txt", "toy/FeatureData/synthetic/video2frames.txt",
                                        "toy/TextData/roberta_toy_query_feat.hdf5", "toy/TextData/toytest.caption.txt",
                                        "toy/TextData/toytrain.caption.txt", "toy/TextData/toyval.caption.txt"])
            for (path, bytes) in a where !path.hasSuffix(".hdf5") {
                #expect(b[path] == bytes, "\(path) differs between two runs with the same seed")
            }
            // HDF5 files: equal content (HDF5Kit lets the library stamp object modification
            // times into the headers, so bytes can differ across a clock second).
            let query = "/toy/TextData/roberta_toy_query_feat.hdf5"
            #expect(try HDF5Digest.of(dir + "/a" + query) == HDF5Digest.of(dir + "/b" + query))
            #expect(try HDF5Digest.of(dir + "/a.h5") == HDF5Digest.of(dir + "/b.h5"))
            #expect(try HDF5Digest.of(dir + "/a" + query) != HDF5Digest.of(dir + "/c" + query))
            #expect(c["toy/FeatureData/synthetic/feature.bin"] != a["toy/FeatureData/synthetic/feature.bin"])
            #expect(c["toy/TextData/toytrain.caption.txt"] != a["toy/TextData/toytrain.caption.txt"])
        }
    }

    @Test("the release and packed outputs hold the same data and pass the readers' checks")
    func layoutsAgree() throws {
        try withTemporaryDirectory { dir in
            let generator = try SyntheticGenerator(recipe: Self.recipe)
            try generator.writeRelease(root: dir)
            try generator.writePacked(path: dir + "/toy.h5")
            let paths = CollectionPaths(root: dir, collection: "toy", visualFeature: "synthetic")
            // The packed file from synth equals what convert makes of the release output.
            try ReleaseConverter.convert(paths, to: dir + "/converted.h5")
            try ReleaseConverter.verify(paths, packed: dir + "/toy.h5")
            let options = LoaderOptions(mapSize: 4, maxContextLength: 5, maxDescriptionLength: 4)
            for split in ["train", "val", "test"] {
                let release = try FeatureDataset.open(.release(paths), split: split)
                let packed = try FeatureDataset.open(.packed(dir + "/toy.h5"), split: split)
                #expect(release.index.videoCount == (split == "train" ? 12 : 3))
                #expect(release.index.captionCount == release.index.videoCount * 2)
                #expect(packed.index.videoIDs == release.index.videoIDs)
                PackedLayoutTests.expectSameInputs(try PackedLayoutTests.everything(release, options),
                                                   try PackedLayoutTests.everything(packed, options))
            }
            let index = try FeatureDataset.open(.release(paths), split: "train").index
            #expect(index.frameCounts.allSatisfy { (3...9).contains($0) })
            #expect(Set(index.frameCounts).count > 1)
        }
    }

    @Test("the planted signal: a least-squares text→video map retrieves far above chance, random maps do not")
    func plantedSignal() throws {
        var r = Self.recipe
        r.trainVideos = 200
        r.evaluationVideos = 40
        r.queriesPerVideo = 3
        r.visualDimension = 24
        r.queryDimension = 16
        r.frames = 8...24
        r.tokens = 4...10
        let generator = try SyntheticGenerator(recipe: r)
        // Pooled features: a caption's mean token; a video's moment means (what a clip branch sees).
        func pooledQuery(_ plan: SyntheticGenerator.VideoPlan, _ k: Int) -> [Double] {
            let t = generator.tokens(plan, caption: k)
            let n = plan.captions[k].tokenCount
            return (0..<r.queryDimension).map { j in (0..<n).reduce(0.0) { $0 + Double(t[$1 * r.queryDimension + j]) } / Double(n) }
        }
        func momentMeans(_ plan: SyntheticGenerator.VideoPlan) -> [[Double]] {
            var frames = [Float](repeating: 0, count: plan.frameCount * r.visualDimension)
            generator.frames(plan, into: &frames)
            return (0..<plan.momentTopics.count).map { m in
                let fs = plan.momentStarts[m]..<plan.momentStarts[m + 1]
                return (0..<r.visualDimension).map { j in fs.reduce(0.0) { $0 + Double(frames[$1 * r.visualDimension + j]) } / Double(fs.count) }
            }
        }
        // Fit W (Dv × Dq) by ridge regression from the pooled caption to its moment's mean on train.
        let dq = r.queryDimension, dv = r.visualDimension
        var xtx = [Double](repeating: 0, count: dq * dq), xty = [Double](repeating: 0, count: dq * dv)
        for v in 0..<r.trainVideos {
            let plan = generator.plan(video: v)
            let moments = momentMeans(plan)
            for k in 0..<plan.captions.count {
                let x = pooledQuery(plan, k), y = moments[plan.captions[k].moment]
                for a in 0..<dq {
                    for b in 0..<dq { xtx[a * dq + b] += x[a] * x[b] }
                    for b in 0..<dv { xty[a * dv + b] += x[a] * y[b] }
                }
            }
        }
        for a in 0..<dq { xtx[a * dq + a] += 1e-3 }
        let w = solve(xtx, xty, n: dq, columns: dv)  // dq × dv
        let test = (r.trainVideos + r.evaluationVideos)..<r.totalVideos
        let plans = test.map { generator.plan(video: $0) }
        let videos = plans.map(momentMeans)
        func recallAt1(_ map: [Double]) -> Double {
            var hits = 0, total = 0
            for (i, plan) in plans.enumerated() {
                for k in 0..<plan.captions.count {
                    let x = pooledQuery(plan, k)
                    let y = (0..<dv).map { b in (0..<dq).reduce(0.0) { $0 + x[$1] * map[$1 * dv + b] } }
                    let scores = videos.map { moments in moments.map { cosine(y, $0) }.max()! }
                    if scores.firstIndex(of: scores.max()!) == i { hits += 1 }
                    total += 1
                }
            }
            return Double(hits) / Double(total)
        }
        var rng = SplitMix64(state: 5)
        let random = (0..<(dq * dv)).map { _ in Double(rng.float()) }
        let trained = recallAt1(w), untrained = recallAt1(random)
        let chance = 1.0 / Double(plans.count)
        print("planted signal: trained R@1 \(trained), untrained \(untrained), chance \(chance)")
        #expect(trained > 0.5, "trained R@1 \(trained) (chance \(chance))")
        #expect(untrained < 5 * chance + 0.05, "untrained R@1 \(untrained) (chance \(chance))")
    }

    func cosine(_ a: [Double], _ b: [Double]) -> Double {
        var ab = 0.0, aa = 0.0, bb = 0.0
        for i in a.indices { ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i] }
        return ab / ((aa * bb).squareRoot() + 1e-12)
    }

    /// Solves A X = B for symmetric positive definite A (n × n) by Gauss–Jordan elimination.
    func solve(_ a: [Double], _ b: [Double], n: Int, columns: Int) -> [Double] {
        var a = a, b = b
        for p in 0..<n {
            let pivot = a[p * n + p]
            for j in 0..<n { a[p * n + j] /= pivot }
            for j in 0..<columns { b[p * columns + j] /= pivot }
            for i in 0..<n where i != p {
                let f = a[i * n + p]
                if f == 0 { continue }
                for j in 0..<n { a[i * n + j] -= f * a[p * n + j] }
                for j in 0..<columns { b[i * columns + j] -= f * b[p * columns + j] }
            }
        }
        return b
    }
}
