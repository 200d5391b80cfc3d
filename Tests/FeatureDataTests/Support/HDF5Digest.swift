import HDF5Kit

/// A canonical text of everything an HDF5 file holds — every group, dataset (shape, type and
/// values as bit patterns) and attribute, in name order — for comparing files by content.
/// HDF5 files of equal content can still differ in bytes: the library stamps object headers
/// with modification times.
enum HDF5Digest {
    static func of(_ path: String) throws -> String {
        let file = try HDF5File.open(path)
        var lines: [String] = []
        try walk(file, path: "/", into: &lines)
        return lines.joined(separator: "\n")
    }

    static func walk(_ group: HDF5Group, path: String, into lines: inout [String]) throws {
        for name in try group.attributeNames() { lines.append("\(path) @\(name) = \(try group.attribute(name))") }
        for name in try group.memberNames() {
            let child = path == "/" ? "/" + name : path + "/" + name
            switch try group.kind(of: name) {
            case .group?:
                try walk(try group.openGroup(name), path: child, into: &lines)
            case .dataset?:
                let d = try group.openDataset(name)
                for a in try d.attributeNames() { lines.append("\(child) @\(a) = \(try d.attribute(a))") }
                if d.elementType.isString {
                    lines.append("\(child) \(d.shape) strings \(try d.readStrings())")
                } else {
                    var h: UInt64 = 1_469_598_103_934_665_603
                    for v in try d.read(as: Double.self) { h = (h ^ v.bitPattern) &* 1_099_511_628_211 }
                    lines.append("\(child) \(d.shape) \(d.elementType) \(String(h, radix: 16))")
                }
            default:
                lines.append("\(child) other")
            }
        }
    }
}
