import Foundation
import HDF5Kit
@testable import FeatureData

/// A small release-layout dataset written file by file, so that tests can write it exactly
/// as DATA.md describes and then damage one piece of it.
///
/// Frame rows of `feature.bin` are deliberately **not** in video order (the reader must follow
/// `video2frames.txt`), and the caption file lists videos out of their feature order.
struct ReleaseFixture {
    var collection = "tvr"
    var visualFeature = "i3d_resnet"
    var dv = 6
    var dq = 4
    /// video id → frame count, in `video2frames.txt` order.
    var videos: [(id: String, frames: Int)] = [("vB", 3), ("vA", 5), ("vC", 1), ("vOrphan", 2)]
    /// split → caption lines (cap_id, text).
    var captions: [String: [(capID: String, text: String)]] = [
        "train": [("vA#enc#0", "a person opens a door"), ("vB#enc#0", "a cat sits"), ("vA#enc#1", "the door closes"),
                  ("vC#enc#0", "one frame only")],
        "test": [("vC#enc#1", "again one frame"), ("vB#enc#1", "the cat leaves")],
    ]
    /// cap_id → token count.
    var tokenCounts: [String: Int] = ["vA#enc#0": 3, "vB#enc#0": 2, "vA#enc#1": 5, "vC#enc#0": 1, "vC#enc#1": 4, "vB#enc#1": 2]
    var seed: UInt64 = 7
    /// Captions whose features are stored as float64 whatever `queryPrecision` says (a mixed file).
    var float64Captions: Set<String> = []

    /// Frame id of frame f of `video`.
    static func frameID(_ video: String, _ f: Int) -> String { "\(video)_f\(f)" }

    /// Row order of `feature.bin`: frames of all videos, interleaved (not grouped by video).
    var rowOrder: [(video: String, frame: Int)] {
        var order: [(String, Int)] = []
        let longest = videos.map(\.frames).max() ?? 0
        for f in 0..<longest {
            for v in videos.reversed() where f < v.frames { order.append((v.id, f)) }
        }
        return order
    }

    /// Feature values of frame f of `video` (deterministic, exactly representable).
    func frame(_ video: String, _ f: Int) -> [Float] {
        var rng = SplitMix64(state: seed &+ UInt64(video.hashValueStable) &* 31 &+ UInt64(f))
        return (0..<dv).map { _ in rng.float() * 4 }
    }

    func tokens(_ capID: String) -> [Float] {
        var rng = SplitMix64(state: seed &+ 1000 &+ UInt64(capID.hashValueStable))
        return (0..<(tokenCounts[capID]! * dq)).map { _ in rng.float() * 2 }
    }

    func paths(_ root: String) -> CollectionPaths { CollectionPaths(root: root, collection: collection, visualFeature: visualFeature) }

    /// Writes every file under `root`.
    func write(root: String, queryPrecision: HDF5ScalarType = .float32) throws {
        let p = paths(root)
        try FileManager.default.createDirectory(atPath: p.featureDirectory, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(root)/\(collection)/TextData", withIntermediateDirectories: true)
        let order = rowOrder
        try writeText("\(order.count) \(dv)\n", to: p.shapeFile)
        try writeText(order.map { Self.frameID($0.video, $0.frame) }.joined(separator: " ") + "\n", to: p.idFile)
        var floats: [Float] = []
        for (video, f) in order { floats += frame(video, f) }
        try floats.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: p.featureFile)) }
        let literal = "{" + videos.map { v in
            "'\(v.id)': [" + (0..<v.frames).map { "'\(Self.frameID(v.id, $0))'" }.joined(separator: ", ") + "]"
        }.joined(separator: ",\n ") + "}"
        try writeText(literal, to: p.videoFramesFile)
        for (split, lines) in captions {
            try writeText(lines.map { "\($0.capID) \($0.text)" }.joined(separator: "\n") + "\n", to: p.captionFile(split: split))
        }
        let file = try HDF5File.create(p.queryFeatureFile)
        for capID in tokenCounts.keys.sorted() {
            let values = tokens(capID)
            if queryPrecision == .float64 || float64Captions.contains(capID) {
                try file.createDataset(capID, values: values.map(Double.init), shape: [tokenCounts[capID]!, dq])
            } else {
                try file.createDataset(capID, values: values, shape: [tokenCounts[capID]!, dq])
            }
        }
        try file.close()
    }

    /// The stored frames of `video` in temporal order (T × Dv).
    func frames(of video: String) -> [Float] {
        let t = videos.first { $0.id == video }!.frames
        return (0..<t).flatMap { frame(video, $0) }
    }
}

extension String {
    /// A hash that does not change between runs (Swift's `hashValue` is seeded per process).
    var hashValueStable: UInt32 {
        var h: UInt32 = 2_166_136_261
        for b in utf8 { h = (h ^ UInt32(b)) &* 16_777_619 }
        return h
    }
}
