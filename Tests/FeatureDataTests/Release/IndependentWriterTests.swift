import Foundation
import Testing
@testable import FeatureData

/// A release-layout directory written by an independent writer (a few
/// lines of h5py/NumPy following DATA.md, not this code) reads back as exactly the arrays
/// DATA.md's preprocessing defines, computed in NumPy — bit for bit.
///
/// Needs `python3` with `h5py` and `numpy`; skipped (with that reason) when they are missing.
struct IndependentWriterTests {
    static let pythonReady: Bool = {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import h5py, numpy"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }()

    /// Writes ROOT/indep/… per DATA.md §1 and, for each video and caption, the model inputs
    /// DATA.md defines, as raw little-endian float32 in ROOT/expected/.
    static let script = #"""
    import sys, os, numpy as np, h5py
    root = sys.argv[1]
    M, MAX_CTX, MAX_DESC, DV, DQ = 32, 128, 30, 1024, 768
    rng = np.random.default_rng(2024)
    coll = os.path.join(root, "indep")
    feat = os.path.join(coll, "FeatureData", "i3d")
    text = os.path.join(coll, "TextData")
    os.makedirs(feat); os.makedirs(text); os.makedirs(os.path.join(root, "expected"))
    lengths = {"v_one": 1, "v_short": 5, "v_map": 32, "v_mid": 77, "v_ctx": 128, "v_long": 200, "v_longer": 301}
    frames = {v: (rng.standard_normal((t, DV)) * rng.uniform(0.1, 5)).astype(np.float32) for v, t in lengths.items()}
    # feature.bin rows in a shuffled order; id.txt gives each row's frame id.
    rows = [(v, f) for v, t in lengths.items() for f in range(t)]
    order = rng.permutation(len(rows))
    ids = ["%s_%d" % rows[i] for i in order]
    np.stack([frames[rows[i][0]][rows[i][1]] for i in order]).astype("<f4").tofile(os.path.join(feat, "feature.bin"))
    open(os.path.join(feat, "shape.txt"), "w").write("%d %d\n" % (len(rows), DV))
    open(os.path.join(feat, "id.txt"), "w").write(" ".join(ids))
    open(os.path.join(feat, "video2frames.txt"), "w").write(str({v: ["%s_%d" % (v, f) for f in range(t)] for v, t in lengths.items()}))
    caps, h5 = [], h5py.File(os.path.join(text, "roberta_indep_query_feat.hdf5"), "w")
    for k, v in enumerate(["v_long", "v_one", "v_mid", "v_short", "v_long", "v_map", "v_ctx", "v_longer", "v_mid"]):
        cap = "%s#enc#%d" % (v, k)
        n = int(rng.integers(1, 45))
        dtype = np.float64 if k % 4 == 3 else np.float32
        h5[cap] = (rng.standard_normal((n, DQ)) * 3).astype(dtype)
        caps.append((cap, "caption number %d" % k))
    h5.close()
    open(os.path.join(text, "indeptrain.caption.txt"), "w").write("".join("%s %s\n" % c for c in caps))

    # DATA.md §1, in NumPy: float64 then float32.
    def l2(x): return x / (np.linalg.norm(x, axis=-1, keepdims=True) + 1e-5)
    def resample(x, m):
        t = x.shape[0]
        idx = np.round(np.arange(0, m + 1, 1.0) / m * t).astype(np.int64)
        idx[idx > t - 1] = t - 1
        return np.stack([x[idx[i]:idx[i + 1]].mean(axis=0) if idx[i] < idx[i + 1] else x[idx[i]] for i in range(m)])
    out = os.path.join(root, "expected")
    for v, x in frames.items():
        x64 = x.astype(np.float64)
        l2(resample(x64, M)).astype("<f4").tofile(os.path.join(out, v + ".clip"))
        fr = resample(x64, MAX_CTX) if x.shape[0] > MAX_CTX else x64
        l2(fr).astype("<f4").tofile(os.path.join(out, v + ".frames"))
    with h5py.File(os.path.join(text, "roberta_indep_query_feat.hdf5"), "r") as h5:
        for cap, _ in caps:
            q = h5[cap][...]          # normalised in its stored precision, as the reference does
            l2(q)[:MAX_DESC].astype("<f4").tofile(os.path.join(out, cap.replace("#", "_") + ".query"))
    """#

    static func floats(_ path: String) throws -> [UInt32] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return data.withUnsafeBytes { Array($0.bindMemory(to: UInt32.self)).map { UInt32(littleEndian: $0) } }
    }

    @Test("h5py/NumPy-written release data loads as NumPy's DATA.md preprocessing, bit for bit",
          .enabled(if: pythonReady, "python3 with h5py and numpy is not available"))
    func independentWriter() throws {
        try withTemporaryDirectory { dir in
            try writeText(Self.script, to: dir + "/write.py")
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", dir + "/write.py", dir]
            let errors = Pipe()
            process.standardError = errors
            try process.run()
            process.waitUntilExit()
            let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            try #require(process.terminationStatus == 0, "fixture script failed: \(message)")

            let paths = CollectionPaths(root: dir, collection: "indep", visualFeature: "i3d")
            let source = try FeatureDataset.open(.release(paths), split: "train", visualDimension: 1024, queryDimension: 768)
            let loader = try SplitLoader(source: source, options: LoaderOptions(mapSize: 32, maxContextLength: 128, maxDescriptionLength: 30))
            let index = loader.index
            #expect(index.videoIDs == ["v_long", "v_one", "v_mid", "v_short", "v_map", "v_ctx", "v_longer"])
            let batch = try loader.loadBatch(videos: Array(0..<index.videoCount))
            for (i, v) in batch.videos.videos.enumerated() {
                let id = index.videoIDs[v]
                #expect(batch.videos.clipRows(i).map(\.bitPattern) == (try Self.floats("\(dir)/expected/\(id).clip")), "clip input of \(id)")
                #expect(batch.videos.frameRows(i).map(\.bitPattern) == (try Self.floats("\(dir)/expected/\(id).frames")), "frame input of \(id)")
            }
            #expect(batch.queries.count == 9)
            for (i, q) in batch.queries.queries.enumerated() {
                let capID = index.captions[q].capID
                let expected = try Self.floats("\(dir)/expected/\(capID.replacingOccurrences(of: "#", with: "_")).query")
                #expect(batch.queries.tokenRows(i).map(\.bitPattern) == expected, "query input of \(capID)")
            }
            // And the packed layout made from it gives the same inputs.
            try ReleaseConverter.convert(paths, to: dir + "/indep.h5")
            try ReleaseConverter.verify(paths, packed: dir + "/indep.h5")
            let packed = try SplitLoader(source: try FeatureDataset.open(.packed(dir + "/indep.h5"), split: "train"), options: loader.options)
            PackedLayoutTests.expectSameInputs(batch, try packed.loadBatch(videos: Array(0..<index.videoCount)))
        }
    }
}
