import Foundation
import Testing
import HDF5Kit
@testable import FeatureData

/// Every kind of bad input gives a `FeatureDataError` naming the file and the
/// offending item (and line where there is one) — never a crash, never a silent pass.
struct BadInputTests {
    let fixture = ReleaseFixture()

    /// Writes the fixture, lets `damage` change it, then expects opening and loading the train
    /// split to throw an error satisfying `check`.
    func expectFailure(_ damage: (CollectionPaths) throws -> Void, _ check: (FeatureDataError, CollectionPaths) -> Bool,
                       sourceLocation: SourceLocation = #_sourceLocation) throws {
        try withTemporaryDirectory { root in
            try fixture.write(root: root)
            let paths = fixture.paths(root)
            try damage(paths)
            do {
                let source = try FeatureDataset.open(.release(paths), split: "train", queryDimension: fixture.dq)
                let loader = try SplitLoader(source: source, options: LoaderOptions(mapSize: 4, maxContextLength: 8, maxDescriptionLength: 30))
                _ = try loader.loadBatch(videos: Array(0..<loader.index.videoCount))
                Issue.record("no error", sourceLocation: sourceLocation)
            } catch let error as FeatureDataError {
                #expect(check(error, paths), "\(error)", sourceLocation: sourceLocation)
            }
        }
    }

    func remove(_ path: String) throws { try FileManager.default.removeItem(atPath: path) }

    @Test("missing files are named", arguments: ["shape", "id", "feature", "video2frames", "caption", "query"])
    func missingFile(which: String) throws {
        func path(_ p: CollectionPaths) -> String {
            switch which {
            case "shape": p.shapeFile
            case "id": p.idFile
            case "feature": p.featureFile
            case "video2frames": p.videoFramesFile
            case "caption": p.captionFile(split: "train")
            default: p.queryFeatureFile
            }
        }
        try expectFailure({ try remove(path($0)) }) { e, p in
            e.file == path(p) && (e.problem.contains("missing file") || e.problem.contains("No such file"))
        }
    }

    @Test("shape.txt disagreeing with the size of feature.bin")
    func shapeDisagrees() throws {
        // 11 rows of 6 floats are stored; shape.txt claims 10.
        try expectFailure({ try writeText("10 6\n", to: $0.shapeFile) }) { e, p in
            e.file == p.featureFile && e.problem.contains("shape.txt disagrees with feature.bin") && e.problem.contains("10 × 6")
        }
    }

    @Test("a truncated feature.bin (partial last row)")
    func truncatedFeatures() throws {
        try expectFailure({ p in
            let bytes = try readBytes(p.featureFile)
            try writeBytes(Array(bytes.dropLast(10)), to: p.featureFile)
        }) { e, p in e.file == p.featureFile && e.problem.contains("truncated feature.bin") }
    }

    @Test("id.txt listing a different number of ids than shape.txt")
    func idCountMismatch() throws {
        try expectFailure({ p in
            let ids = String(decoding: try readBytes(p.idFile), as: UTF8.self)
            try writeText(ids.trimmingCharacters(in: .whitespacesAndNewlines) + " extra_id\n", to: p.idFile)
        }) { e, p in e.file == p.idFile && e.problem.contains("id.txt holds 12 frame ids but shape.txt says N = 11") }
    }

    @Test("a frame id of video2frames.txt that is not in id.txt names frame, video and line")
    func unknownFrame() throws {
        try expectFailure({ p in
            try writeText("{'vB': ['vB_f0', 'vB_f1', 'vB_f2'],\n 'vA': ['vA_f0', 'nowhere']}", to: p.videoFramesFile)
        }) { e, p in
            e.file == p.videoFramesFile && e.line == 2 && e.item == "frame 'nowhere' of video 'vA'" && e.problem.contains("not in")
        }
    }

    @Test("a video with zero frames names the video and its line")
    func zeroFrames() throws {
        try expectFailure({ p in
            try writeText("{'vB': ['vB_f0'],\n 'vA': [],\n 'vC': ['vC_f0']}", to: p.videoFramesFile)
        }) { e, p in e.file == p.videoFramesFile && e.line == 2 && e.item == "video 'vA'" && e.problem.contains("zero frames") }
    }

    @Test("duplicate video ids in video2frames.txt")
    func duplicateVideo() throws {
        try expectFailure({ p in
            try writeText("{'vB': ['vB_f0'],\n 'vA': ['vA_f0'],\n 'vB': ['vB_f1']}", to: p.videoFramesFile)
        }) { e, p in e.file == p.videoFramesFile && e.line == 3 && e.item == "video 'vB'" && e.problem.contains("duplicate video id") }
    }

    @Test("duplicate frame ids in id.txt")
    func duplicateFrameID() throws {
        try expectFailure({ p in
            var ids = String(decoding: try readBytes(p.idFile), as: UTF8.self).split(separator: " ").map(String.init)
            ids[5] = ids[2]
            try writeText(ids.joined(separator: " "), to: p.idFile)
        }) { e, p in e.file == p.idFile && e.item?.contains("frame '") == true && e.problem.contains("duplicate frame id") }
    }

    @Test("duplicate caption ids name both lines")
    func duplicateCaption() throws {
        try expectFailure({ p in
            try writeText("vA#enc#0 one\nvB#enc#0 two\nvA#enc#0 three\n", to: p.captionFile(split: "train"))
        }) { e, p in
            e.file == p.captionFile(split: "train") && e.line == 3 && e.item == "caption 'vA#enc#0'" && e.problem.contains("first on line 1")
        }
    }

    @Test("a caption whose video has no features")
    func captionWithoutVideo() throws {
        try expectFailure({ p in
            try writeText("vA#enc#0 one\nvGhost#enc#0 two\n", to: p.captionFile(split: "train"))
        }) { e, p in
            e.file == p.captionFile(split: "train") && e.line == 2 && e.item == "caption 'vGhost#enc#0'" && e.problem.contains("has no features")
        }
    }

    @Test("a caption id without query features")
    func captionWithoutQuery() throws {
        try expectFailure({ p in
            try writeText("vA#enc#0 one\nvA#enc#7 two\n", to: p.captionFile(split: "train"))
        }) { e, p in
            e.file == p.queryFeatureFile && e.item == "caption 'vA#enc#7'" && e.problem.contains("no query features")
                && e.problem.contains("train.caption.txt:2")
        }
    }

    @Test("query features of the wrong dimension")
    func wrongQueryDimension() throws {
        try expectFailure({ p in
            let file = try HDF5File.open(p.queryFeatureFile, mode: .readWrite)
            try file.createDataset("vB#enc#9", values: [Float](repeating: 1, count: 10), shape: [2, 5])
            try file.close()
            try writeText("vA#enc#0 one\nvB#enc#9 two\n", to: p.captionFile(split: "train"))
        }) { e, p in
            e.file == p.queryFeatureFile && e.item == "caption 'vB#enc#9'" && e.problem.contains("wrong dimension") && e.problem.contains("Dq = 4")
        }
    }

    @Test("a NaN in a frame is reported with the frame id on load")
    func nanFrame() throws {
        try expectFailure({ p in
            var bytes = try readBytes(p.featureFile)
            // Frame 3 of vA, column 2 ← NaN.
            let row = fixture.rowOrder.firstIndex { $0.video == "vA" && $0.frame == 3 }!
            let nan = Float.nan.bitPattern
            for k in 0..<4 { bytes[(row * 6 + 2) * 4 + k] = UInt8(truncatingIfNeeded: nan >> (8 * UInt32(k))) }
            try writeBytes(bytes, to: p.featureFile)
        }) { e, p in
            return e.file == p.featureFile && e.item?.contains("frame 'vA_f3'") == true && e.item?.contains("video 'vA'") == true
                && e.problem.contains("nan in column 2") && e.problem.contains("finite")
        }
    }

    @Test("an Inf in query features is reported with the caption id on load")
    func infQuery() throws {
        try expectFailure({ p in
            let file = try HDF5File.open(p.queryFeatureFile, mode: .readWrite)
            try file.createDataset("vA#enc#5", values: [1, 2, 3, 4, 5, -Float.infinity, 7, 8], shape: [2, 4])
            try file.close()
            try writeText("vA#enc#5 one\n", to: p.captionFile(split: "train"))
        }) { e, p in
            e.file == p.queryFeatureFile && e.item == "caption 'vA#enc#5'" && e.problem.contains("-inf in token 1, column 1")
        }
    }

    @Test("a malformed caption line names file and line")
    func malformedCaption() throws {
        try expectFailure({ p in try writeText("vA#enc#0 one\nvB#enc#0\n", to: p.captionFile(split: "train")) }) { e, p in
            e.file == p.captionFile(split: "train") && e.line == 2 && e.problem.contains("malformed caption line")
        }
    }

    @Test("a malformed dict literal names file and line")
    func malformedLiteral() throws {
        try expectFailure({ p in try writeText("{'vB': ['vB_f0'],\n 'vA': ['vA_f0'\n}", to: p.videoFramesFile) }) { e, p in
            e.file == p.videoFramesFile && e.line == 3 && e.problem.contains("malformed dict literal")
        }
    }

    @Test("a query file that is not HDF5, or is truncated", arguments: ["not-hdf5", "truncated"])
    func brokenQueryFile(kind: String) throws {
        try expectFailure({ p in
            if kind == "not-hdf5" {
                try writeText("this is not an HDF5 file\n", to: p.queryFeatureFile)
            } else {
                let bytes = try readBytes(p.queryFeatureFile)
                try writeBytes(Array(bytes.prefix(bytes.count / 2)), to: p.queryFeatureFile)
            }
        }) { e, p in
            e.file == p.queryFeatureFile && (kind == "not-hdf5" ? e.problem.contains("not an HDF5 file") : e.problem.lowercased().contains("truncated"))
        }
    }

    @Test("a packed file that is not HDF5, truncated, or of another format version")
    func brokenPackedFile() throws {
        try withTemporaryDirectory { root in
            try fixture.write(root: root)
            let packed = root + "/p.h5"
            try ReleaseConverter.convert(fixture.paths(root), to: packed)
            let good = try readBytes(packed)
            // Wrong version.
            let file = try HDF5File.open(packed, mode: .readWrite)
            try file.setAttribute("format_version", .int64(99))
            try file.close()
            #expect { try PackedFeatureFile(path: packed) } throws: { error in
                let e = error as! FeatureDataError
                return e.file == packed && e.item == "attribute 'format_version'" && e.problem.contains("version 99")
            }
            // Not a packed file at all (an HDF5 file without our attributes).
            #expect { try PackedFeatureFile(path: fixture.paths(root).queryFeatureFile) } throws: { error in
                (error as! FeatureDataError).problem.contains("not a packed feature file")
            }
            try writeBytes(Array(good.prefix(good.count / 3)), to: packed)
            #expect { try PackedFeatureFile(path: packed) } throws: { error in
                let e = error as! FeatureDataError
                return e.file == packed && e.problem.lowercased().contains("truncated")
            }
            try writeText("plain text", to: packed)
            #expect { try PackedFeatureFile(path: packed) } throws: { error in
                (error as! FeatureDataError).problem.contains("not an HDF5 file")
            }
        }
    }

    @Test("dimensions that disagree with the configuration")
    func configuredDimensions() throws {
        try withTemporaryDirectory { root in
            try fixture.write(root: root)
            #expect { try FeatureDataset.open(.release(fixture.paths(root)), split: "train", visualDimension: 3072) } throws: { error in
                let e = error as! FeatureDataError
                return e.file.hasSuffix("shape.txt") && e.problem.contains("visual_feat_dim 3072")
            }
        }
    }
}
