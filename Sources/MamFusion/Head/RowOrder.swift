/// Moves rows between rank order (what gathers and reduce-scatters exchange) and global order
/// (what the head computes in): `order[k]` is the global index of rank-order row k, and a
/// rank-order row is the concatenation of one row of each of `parts` (each `width` floats wide,
/// e.g. [q | K | V]).
public enum RowOrder {
    /// parts[p][order[k]] = the p-th segment of ranked row k.
    public static func toGlobal(_ ranked: UnsafePointer<Float>, order: [Int32], width: Int, parts: [UnsafeMutablePointer<Float>]) {
        let stride = width * parts.count
        for (k, g) in order.enumerated() {
            for (p, part) in parts.enumerated() {
                (part + Int(g) * width).update(from: ranked + k * stride + p * width, count: width)
            }
        }
    }

    /// Row i of `rows` = [parts[0] row i | parts[1] row i | …] (no reordering).
    public static func pack(_ parts: [UnsafePointer<Float>], rows: Int, width: Int, into packed: UnsafeMutablePointer<Float>) {
        let stride = width * parts.count
        for i in 0..<rows {
            for (p, part) in parts.enumerated() { (packed + i * stride + p * width).update(from: part + i * width, count: width) }
        }
    }

    /// The inverse of `pack`.
    public static func unpack(_ packed: UnsafePointer<Float>, rows: Int, width: Int, into parts: [UnsafeMutablePointer<Float>]) {
        let stride = width * parts.count
        for i in 0..<rows {
            for (p, part) in parts.enumerated() { (part + i * width).update(from: packed + i * stride + p * width, count: width) }
        }
    }

    /// The p-th segment of ranked row k = parts[p][order[k]].
    public static func toRanked(_ parts: [UnsafePointer<Float>], order: [Int32], width: Int, into ranked: UnsafeMutablePointer<Float>) {
        let stride = width * parts.count
        for (k, g) in order.enumerated() {
            for (p, part) in parts.enumerated() {
                (ranked + k * stride + p * width).update(from: part + Int(g) * width, count: width)
            }
        }
    }
}
