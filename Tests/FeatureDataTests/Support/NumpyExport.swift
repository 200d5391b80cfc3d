import Foundation
import HDF5Kit
@testable import FeatureData

/// What a user of `mamfusion import` starts from, made from a release-layout collection: one
/// `.npy` per video (its frames, T × Dv float32) and per caption (its tokens), and a caption
/// table — written here with this file's own `.npy` writer, independent of the importer's reader.
enum NumpyExport {
    /// The bytes of a version 1.0 `.npy` file holding `values` with `shape` and dtype `descr`
    /// (`values` already encoded little-endian in that dtype).
    static func npy(descr: String, shape: [Int], fortran: Bool = false, data: [UInt8]) -> [UInt8] {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(descr)', 'fortran_order': \(fortran ? "True" : "False"), 'shape': \(shapeText), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        let length = header.utf8.count
        return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(length & 0xFF), UInt8(length >> 8)] + Array(header.utf8) + data
    }

    static func float32Bytes(_ values: [Float]) -> [UInt8] {
        values.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }
    }

    static func float64Bytes(_ values: [Double]) -> [UInt8] {
        values.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }
    }

    static func write(_ bytes: [UInt8], to path: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    /// Exports the collection at `paths` to `out/videos/<video_id>.npy`, `out/queries/<cap_id>.npy`
    /// and `out/captions.tsv` (header caption_id, video_id, text, split; every split present).
    static func export(_ paths: CollectionPaths, to out: String) throws {
        let collection = try ReleaseCollection(paths: paths)
        let fm = FileManager.default
        try fm.createDirectory(atPath: out + "/videos", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: out + "/queries", withIntermediateDirectories: true)
        let d = collection.features.dimension
        for video in collection.videoFrameLists {
            var values = [Float](repeating: 0, count: video.rows.count * d)
            try values.withUnsafeMutableBufferPointer { buffer in
                try video.rows.withUnsafeBufferPointer { _ = try collection.features.readRows($0, into: buffer.baseAddress!) }
            }
            try write(npy(descr: "<f4", shape: [video.rows.count, d], data: float32Bytes(values)), to: "\(out)/videos/\(video.videoID).npy")
        }
        var table = "caption_id\tvideo_id\ttext\tsplit\n"
        for split in try collection.availableSplits {
            for caption in try CaptionFile.read(paths.captionFile(split: split)) {
                let dataset = try collection.queryFile.openDataset(caption.capID)
                let bytes = dataset.elementType.size == 8
                    ? npy(descr: "<f8", shape: dataset.shape, data: float64Bytes(try dataset.read(as: Double.self)))
                    : npy(descr: "<f4", shape: dataset.shape, data: float32Bytes(try dataset.read(as: Float.self)))
                try write(bytes, to: "\(out)/queries/\(caption.capID).npy")
                table += "\(caption.capID)\t\(caption.videoID)\t\(caption.text)\t\(split)\n"
            }
        }
        try table.write(toFile: out + "/captions.tsv", atomically: true, encoding: .utf8)
    }
}
