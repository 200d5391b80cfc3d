import ArgumentParser
import FeatureData
import Foundation
import HDF5Kit

/// `mamfusion inspect PATH`: what a dataset holds — counts, dimensions, frames per video, tokens
/// per query, queries per video, missing and orphan ids — for either layout. Exits non-zero
/// when a split is unusable (missing features, wrong dimensions, non-finite values).
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe a dataset (release layout directory, packed HDF5 file or CLIP token file) and list its problems."
    )

    @Argument(help: "A packed or CLIP token .h5 file, a data root (with --collection), or a collection directory (ROOT/C).")
    var path: String

    @Option(help: "Collection name (release layout; default: the directory's name, or the only collection under PATH).")
    var collection: String?

    @Option(help: "Visual-feature folder (release layout; default: the only one, or the reference collection's).")
    var visualFeature: String?

    @Flag(help: "Also read every stored value and report NaN or Inf.")
    var scanValues = false

    func run() throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw FeatureDataError(file: path, "missing file or directory")
        }
        let report: InspectionReport
        if !isDirectory.boolValue {
            report = CLIPTokenCollection.isTokenFile(path) ? try DatasetInspector.inspectTokens(path, scanValues: scanValues)
                : try DatasetInspector.inspectPacked(path, scanValues: scanValues)
        } else {
            let (root, name) = try locate()
            let paths = try CollectionPaths.resolve(root: root, collection: name, visualFeature: visualFeature)
            report = try DatasetInspector.inspectRelease(paths, scanValues: scanValues)
        }
        print(report.render())
        if !report.isUsable { throw ExitCode(2) }
    }

    /// (data root, collection) for a directory PATH.
    private func locate() throws -> (String, String) {
        let trimmed = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
        let fm = FileManager.default
        if let collection { return (trimmed, collection) }
        if fm.fileExists(atPath: trimmed + "/TextData") {
            let url = URL(fileURLWithPath: trimmed)
            return (url.deletingLastPathComponent().path, url.lastPathComponent)
        }
        let candidates = ((try? fm.contentsOfDirectory(atPath: trimmed)) ?? []).filter { fm.fileExists(atPath: "\(trimmed)/\($0)/TextData") }.sorted()
        guard candidates.count == 1 else {
            throw FeatureDataError(file: trimmed, candidates.isEmpty ? "no <collection>/TextData here: not a release-layout data root"
                                   : "several collections (\(candidates.joined(separator: ", "))): choose one with --collection")
        }
        return (trimmed, candidates[0])
    }
}
